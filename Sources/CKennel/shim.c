// See include/ckennel.h: each function is one call, kept here only because Swift cannot make it.
#define _GNU_SOURCE
#include "ckennel.h"
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/mount.h>
#include <linux/openat2.h>

int kennel_unshare(int flags) { return unshare(flags); }
int kennel_setns(int fd, int nstype) { return setns(fd, nstype); }
int kennel_pivot_root(const char *new_root, const char *put_old) {
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}
int kennel_close_range(unsigned int first, unsigned int last, int flags) {
    return (int)syscall(SYS_close_range, first, last, flags);
}
int kennel_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5) {
    return prctl(option, a2, a3, a4, a5);
}
int kennel_open_tree(int dfd, const char *path, unsigned int flags) {
    return (int)syscall(SYS_open_tree, dfd, path, flags);
}
int kennel_move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path, unsigned int flags) {
    return (int)syscall(SYS_move_mount, from_dfd, from_path, to_dfd, to_path, flags);
}
int kennel_fsopen(const char *fsname, unsigned int flags) {
    return (int)syscall(SYS_fsopen, fsname, flags);
}
int kennel_fsconfig(int fd, unsigned int cmd, const char *key, const char *value, int aux) {
    return (int)syscall(SYS_fsconfig, fd, cmd, key, value, aux);
}
int kennel_fsmount(int fd, unsigned int flags, unsigned int attr_flags) {
    return (int)syscall(SYS_fsmount, fd, flags, attr_flags);
}
int kennel_mount_setattr(int dfd, const char *path, unsigned int flags,
                         uint64_t attr_set, uint64_t attr_clr, uint64_t userns_fd) {
    struct mount_attr attr = { .attr_set = attr_set, .attr_clr = attr_clr, .userns_fd = userns_fd };
    return (int)syscall(SYS_mount_setattr, dfd, path, flags, &attr, sizeof attr);
}
int kennel_openat2(int dfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct open_how how = { .flags = flags, .mode = mode, .resolve = resolve };
    return (int)syscall(SYS_openat2, dfd, path, &how, sizeof how);
}
int kennel_wexitstatus(int status) { return WEXITSTATUS(status); }
int kennel_wifsignaled(int status) { return WIFSIGNALED(status); }
int kennel_wtermsig(int status) { return WTERMSIG(status); }
int kennel_sethostname(const char *name, size_t len) { return sethostname(name, len); }
int kennel_setresuid(uid_t r, uid_t e, uid_t s) { return setresuid(r, e, s); }
int kennel_setresgid(gid_t r, gid_t e, gid_t s) { return setresgid(r, e, s); }
long kennel_fstatfs_type(int fd) { struct statfs s; return fstatfs(fd, &s) == 0 ? (long)s.f_type : -1; }
int kennel_memfd_create(const char *name, unsigned int flags) { return memfd_create(name, flags); }
#if defined(__x86_64__)
long kennel_x32_getpid(void) { return syscall(0x40000000 | SYS_getpid); }
#else
long kennel_x32_getpid(void) { errno = ENOSYS; return -1; }
#endif
int kennel_seccomp_set_filter(const void *instructions, unsigned short count) {
    struct sock_fprog prog = { .len = count, .filter = (struct sock_filter *)instructions };
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}
int kennel_clone_process(unsigned long flags) {
    return (int)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
}
int kennel_accept_nonblocking(int listener) { return accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); }
int kennel_signalfd(const void *mask) { return signalfd(-1, (const sigset_t *)mask, SFD_CLOEXEC | SFD_NONBLOCK); }
long kennel_signalfd_read(int fd, int *signal, int *code) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    if (n == (ssize_t)sizeof info) { *signal = (int)info.ssi_signo; *code = info.ssi_code; }
    return n;
}
long kennel_splice(int in, int out, size_t length, unsigned int flags) { return (long)splice(in, NULL, out, NULL, length, flags); }
int kennel_sched_getcpu(void) { return sched_getcpu(); }
long kennel_sched_getaffinity(int pid, size_t size, void *mask) { return syscall(SYS_sched_getaffinity, pid, size, mask); }
long kennel_sched_setaffinity(int pid, size_t size, const void *mask) { return syscall(SYS_sched_setaffinity, pid, size, mask); }

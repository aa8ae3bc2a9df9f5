// ckennel: one-line C wrappers for what Swift cannot call directly on Linux.
// Every function exists because the libc symbol is variadic, needs _GNU_SOURCE, has no glibc
// wrapper on older distributions, or is a function-like macro. Logic belongs in Swift.
#ifndef CKENNEL_H
#define CKENNEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

// Constants from <linux/sched.h>, <linux/mount.h>, <linux/openat2.h>, <linux/prctl.h>,
// <linux/close_range.h>, <linux/magic.h> and <linux/fs.h>, spelled out here because those
// headers collide with glibc's <sys/mount.h> inside one Clang module. Values are kernel ABI.
enum {
    KENNEL_CLONE_NEWTIME = 0x00000080,
    KENNEL_CLONE_NEWNS = 0x00020000,
    KENNEL_CLONE_NEWCGROUP = 0x02000000,
    KENNEL_CLONE_NEWUTS = 0x04000000,
    KENNEL_CLONE_NEWIPC = 0x08000000,
    KENNEL_CLONE_NEWUSER = 0x10000000,
    KENNEL_CLONE_NEWPID = 0x20000000,
    KENNEL_CLONE_NEWNET = 0x40000000,
};

enum {
    KENNEL_OPEN_TREE_CLONE = 1,
    KENNEL_OPEN_TREE_CLOEXEC = 02000000,
    KENNEL_AT_RECURSIVE = 0x8000,
    KENNEL_AT_EMPTY_PATH = 0x1000,
    KENNEL_AT_SYMLINK_NOFOLLOW = 0x100,
    KENNEL_MOVE_MOUNT_F_EMPTY_PATH = 0x00000004,
    KENNEL_MOVE_MOUNT_T_EMPTY_PATH = 0x00000040,
    KENNEL_FSOPEN_CLOEXEC = 0x00000001,
    KENNEL_FSMOUNT_CLOEXEC = 0x00000001,
    KENNEL_FSCONFIG_SET_FLAG = 0,
    KENNEL_FSCONFIG_SET_STRING = 1,
    KENNEL_FSCONFIG_SET_FD = 5,
    KENNEL_FSCONFIG_CMD_CREATE = 6,
};

// mount_setattr / fsmount attribute bits.
enum {
    KENNEL_MOUNT_ATTR_RDONLY = 0x00000001,
    KENNEL_MOUNT_ATTR_NOSUID = 0x00000002,
    KENNEL_MOUNT_ATTR_NODEV = 0x00000004,
    KENNEL_MOUNT_ATTR_NOEXEC = 0x00000008,
};

enum {
    KENNEL_RESOLVE_NO_XDEV = 0x01,
    KENNEL_RESOLVE_NO_MAGICLINKS = 0x02,
    KENNEL_RESOLVE_NO_SYMLINKS = 0x04,
    KENNEL_RESOLVE_IN_ROOT = 0x10,
};

enum {
    KENNEL_CLOSE_RANGE_CLOEXEC = 4,
    KENNEL_PR_SET_PDEATHSIG = 1,
    KENNEL_PR_GET_DUMPABLE = 3,
    KENNEL_PR_SET_DUMPABLE = 4,
    KENNEL_PR_CAPBSET_DROP = 24,
    KENNEL_PR_SET_NO_NEW_PRIVS = 38,
    KENNEL_PR_CAP_AMBIENT = 47,
    KENNEL_PR_CAP_AMBIENT_CLEAR_ALL = 4,
    KENNEL_PROC_SUPER_MAGIC = 0x9fa0,
    KENNEL_MNT_DETACH = 2,
    KENNEL_MS_REC = 16384,
    KENNEL_MS_PRIVATE = (1 << 18),
    KENNEL_O_PATH = 010000000,
    KENNEL_MFD_CLOEXEC = 1,
    KENNEL_SPLICE_F_MOVE = 1,
    KENNEL_SPLICE_F_NONBLOCK = 2,
    KENNEL_F_SETPIPE_SZ = 1031,
};

// unshare(2) and setns(2) are declared by glibc only under _GNU_SOURCE.
int kennel_unshare(int flags);
int kennel_setns(int fd, int nstype);
// pivot_root(2) has no glibc wrapper.
int kennel_pivot_root(const char *new_root, const char *put_old);
// close_range(2): glibc wrapper needs _GNU_SOURCE and glibc 2.34.
int kennel_close_range(unsigned int first, unsigned int last, int flags);
// prctl(2) is variadic in glibc.
int kennel_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
// The new mount API (Linux 5.2+ / 5.12+) is reached through raw syscall(2), which is variadic.
int kennel_open_tree(int dfd, const char *path, unsigned int flags);
int kennel_move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path, unsigned int flags);
int kennel_fsopen(const char *fsname, unsigned int flags);
int kennel_fsconfig(int fd, unsigned int cmd, const char *key, const char *value, int aux);
int kennel_fsmount(int fd, unsigned int flags, unsigned int attr_flags);
// mount_setattr(2) takes a struct mount_attr; this spreads it into fixed arguments.
int kennel_mount_setattr(int dfd, const char *path, unsigned int flags,
                         uint64_t attr_set, uint64_t attr_clr, uint64_t userns_fd);
// openat2(2) takes a struct open_how; this spreads it into fixed arguments.
int kennel_openat2(int dfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
// The wait-status accessors are function-like macros.
int kennel_wexitstatus(int status);
int kennel_wifsignaled(int status);
int kennel_wtermsig(int status);
// setresuid(2)/setresgid(2) are declared only under _GNU_SOURCE.
int kennel_setresuid(uid_t r, uid_t e, uid_t s);
int kennel_setresgid(gid_t r, gid_t e, gid_t s);
// fstatfs(2) lives in <sys/vfs.h>, which Swift's Glibc module does not export; returns f_type or -1.
long kennel_fstatfs_type(int fd);
// clone(2) as fork does it (no new stack), with the caller's flags (namespaces, exit signal),
// so the child can start as pid 1 of a new pid namespace inside a new user namespace. glibc's
// clone() wants a separate stack and a callback, and fork() takes no flags. As with any raw
// clone, glibc's atfork handlers do not run and its cached thread id is stale in the child:
// kennel registers no handlers, is single-threaded, and never raise()s after the clone.
int kennel_clone_process(unsigned long flags);
// accept4(2) is declared only under _GNU_SOURCE; this accepts non-blocking, close-on-exec.
int kennel_accept_nonblocking(int listener);
// signalfd(2) and struct signalfd_siginfo live in <sys/signalfd.h>, which Swift's Glibc module
// does not export. The first makes a close-on-exec, non-blocking signalfd for a mask (so a
// drain loop ends when none is pending); the second reads one
// record and hands back its signal number and si_code (returns read(2)'s result).
// sched_getcpu(3) is declared only under _GNU_SOURCE: the CPU the caller runs on, or -1.
int kennel_sched_getcpu(void);
// sched_getaffinity(2)/sched_setaffinity(2) of a process (0: the caller), raw (the mask as bytes; the glibc
// declarations need _GNU_SOURCE). getaffinity returns the mask's size in bytes, or -1.
long kennel_sched_getaffinity(int pid, size_t size, void *mask);
long kennel_sched_setaffinity(int pid, size_t size, const void *mask);
int kennel_signalfd(const void *mask);
long kennel_signalfd_read(int fd, int *signal, int *code);
// splice(2) is declared only under _GNU_SOURCE; offsets are always NULL here (sockets, pipes).
long kennel_splice(int in, int out, size_t length, unsigned int flags);
// memfd_create(2) is declared only under _GNU_SOURCE.
int kennel_memfd_create(const char *name, unsigned int flags);
// seccomp(2) has no glibc wrapper, and its program is a struct sock_fprog: this takes the
// instructions (struct sock_filter[count]) and installs them with SECCOMP_SET_MODE_FILTER.
int kennel_seccomp_set_filter(const void *instructions, unsigned short count);
// sethostname(2) is declared only under _DEFAULT_SOURCE in some configurations.
int kennel_sethostname(const char *name, size_t len);
// getpid through the x32 ABI (__X32_SYSCALL_BIT | SYS_getpid) via the variadic syscall(2), to
// learn whether the kernel runs x32 calls. -1 with errno (ENOSYS) on other machines.
long kennel_x32_getpid(void);

#endif

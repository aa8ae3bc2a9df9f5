#include <seccomp.h>
#include <stdint.h>
// SCMP_ACT_ERRNO and SCMP_ACT_TRACE are function-like macros, which Swift cannot import.
static inline uint32_t kennel_scmp_act_errno(uint16_t e) { return SCMP_ACT_ERRNO(e); }
static inline uint32_t kennel_scmp_act_trace(uint16_t e) { return SCMP_ACT_TRACE(e); }

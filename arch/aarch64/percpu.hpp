// Per-pCPU state, reached through TPIDR_EL2. The first two fields are used by the world switch (vectors.S).
#pragma once

#include "arch/aarch64/asm_defs.h"
#include "core/vcpu.hpp"

namespace hv::arch {

constexpr u32 kMaxCpus = HV_MAX_CPUS;

struct PerCpu {
    VcpuContext* guest_ctx = nullptr;  // PERCPU_GUEST_CTX: context the running guest is saved into
    u64 host_sp = 0;                   // PERCPU_HOST_SP: hypervisor SP to return to on a guest exit
    u32 index = 0;                     // logical pCPU number (DTB /cpus order)
    u64 mpidr = 0;
    volatile bool online = false;
    Vcpu* vcpu = nullptr;              // the vCPU pinned to this pCPU, if any
};
static_assert(__builtin_offsetof(PerCpu, guest_ctx) == PERCPU_GUEST_CTX);
static_assert(__builtin_offsetof(PerCpu, host_sp) == PERCPU_HOST_SP);

PerCpu& percpu(u32 index);
// This pCPU's block (TPIDR_EL2; set by percpu_init).
PerCpu& this_cpu();
void percpu_init(u32 index);
u32 this_cpu_index();
u32 online_cpus();

}  // namespace hv::arch

// Arm semihosting (Arm "Semihosting for AArch32 and AArch64", version 2.0): host file I/O for a bare-metal program
// under QEMU with `-semihosting-config enable=on,target=native`. A call is `HLT #0xF000` with the operation in W0
// and a pointer to its parameter block in X1; the result comes back in X0. QEMU reads the block and buffers through
// the caller's translation regime (EL2 here: identity map), so pointers are hypervisor virtual addresses.
//
// Only usable when QEMU was started with semihosting enabled: otherwise HLT is UNDEFINED and the hypervisor takes
// an exception. Callers gate every use on an explicit option (snapshot=..., docs/snapshot.md).
#pragma once

#include "lib/status.hpp"
#include "lib/types.hpp"

namespace hv::arch::semihosting {

// Operation numbers (semihosting spec 6.x).
enum class Op : u32 {
    open = 0x01,   // SYS_OPEN   {name, mode, strlen(name)} -> handle or -1
    close = 0x02,  // SYS_CLOSE  {handle} -> 0 or -1
    write = 0x05,  // SYS_WRITE  {handle, buf, len} -> bytes NOT written
    read = 0x06,   // SYS_READ   {handle, buf, len} -> bytes NOT read
    seek = 0x0a,   // SYS_SEEK   {handle, absolute position} -> 0 or negative
    flen = 0x0c,   // SYS_FLEN   {handle} -> length or -1
    errno_ = 0x13, // SYS_ERRNO  -> the host's errno of the last failed call
};

// SYS_OPEN modes (ISO C fopen modes by index): "rb" = 1, "wb" = 5.
enum class OpenMode : u32 { read_binary = 1, write_binary = 5 };

// Raw call.
i64 call(Op op, const void* params);

// A host file. Errors: not_found (open failed), out_of_range (short read / bad seek), no_memory (short write:
// host disk full), invalid_argument (not open).
class File {
public:
    File() = default;
    ~File() { close(); }
    File(const File&) = delete;
    File& operator=(const File&) = delete;

    [[nodiscard]] Status open(const char* path, OpenMode mode);
    void close();
    bool is_open() const { return handle_ >= 0; }
    [[nodiscard]] Status write(const void* data, usize n);
    // Exactly n bytes at `offset` (SYS_SEEK + SYS_READ).
    [[nodiscard]] Status read_at(u64 offset, void* buf, usize n);
    [[nodiscard]] Result<u64> length();
    // Host errno of the last failed call (diagnostics).
    static i64 last_errno();

private:
    i64 handle_ = -1;
};

}  // namespace hv::arch::semihosting

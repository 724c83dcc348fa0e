#include "arch/aarch64/semihosting.hpp"

#include "lib/string.hpp"

namespace hv::arch::semihosting {

i64 call(Op op, const void* params) {
    register u64 x0 asm("x0") = static_cast<u64>(op);
    register u64 x1 asm("x1") = reinterpret_cast<u64>(params);
    // The host reads and writes memory through the pointers in the block: a compiler barrier on memory.
    asm volatile("hlt #0xf000" : "+r"(x0) : "r"(x1) : "memory");
    return static_cast<i64>(x0);
}

Status File::open(const char* path, OpenMode mode) {
    close();
    const u64 block[3] = {reinterpret_cast<u64>(path), static_cast<u64>(mode), strlen(path)};
    const i64 h = call(Op::open, block);
    if (h < 0) return Status::not_found;
    handle_ = h;
    return Status::ok;
}

void File::close() {
    if (handle_ < 0) return;
    const u64 block[1] = {static_cast<u64>(handle_)};
    (void)call(Op::close, block);
    handle_ = -1;
}

Status File::write(const void* data, usize n) {
    if (handle_ < 0) return Status::invalid_argument;
    const u8* p = static_cast<const u8*>(data);
    while (n > 0) {
        const u64 block[3] = {static_cast<u64>(handle_), reinterpret_cast<u64>(p), n};
        const i64 left = call(Op::write, block);
        if (left < 0 || static_cast<u64>(left) >= n) return Status::no_memory;  // nothing written: give up
        const usize done = n - static_cast<usize>(left);
        p += done;
        n -= done;
    }
    return Status::ok;
}

Status File::read_at(u64 offset, void* buf, usize n) {
    if (handle_ < 0) return Status::invalid_argument;
    const u64 seek[2] = {static_cast<u64>(handle_), offset};
    if (call(Op::seek, seek) != 0) return Status::out_of_range;
    u8* p = static_cast<u8*>(buf);
    while (n > 0) {
        const u64 block[3] = {static_cast<u64>(handle_), reinterpret_cast<u64>(p), n};
        const i64 left = call(Op::read, block);
        if (left < 0 || static_cast<u64>(left) >= n) return Status::out_of_range;  // EOF or error
        const usize done = n - static_cast<usize>(left);
        p += done;
        n -= done;
    }
    return Status::ok;
}

Result<u64> File::length() {
    if (handle_ < 0) return Status::invalid_argument;
    const u64 block[1] = {static_cast<u64>(handle_)};
    const i64 len = call(Op::flen, block);
    if (len < 0) return Status::out_of_range;
    return static_cast<u64>(len);
}

i64 File::last_errno() { return call(Op::errno_, nullptr); }

}  // namespace hv::arch::semihosting

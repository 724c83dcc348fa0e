// Snapshot stream: the register state of a whole VM (every class of its catalogue: vCPU registers, firmware,
// vGIC, ITS, ...) plus, optionally, guest RAM, as one versioned byte stream. Layout, all little endian:
//   Header   { u64 magic "UHVSNPv1"; u32 format_version (2); u32 header_size (48); u32 vcpu_count; u32 abi_count;
//              u32 abi[kAbiSlots]; u64 payload_size }  -- abi[0] = kReglistAbi, others supplied by the caller
//              (abi[1]: the ITS table ABI revision)
//   Section  { u32 tag; u32 vcpu (0xffffffff for the VM section); u32 record_count; u32 reserved = 0 }
//   Record   { u64 id; value: reg_size(id) bytes, zero-padded to a multiple of 8 }
//   RAM      { u32 tag "RAM "; u32 region index; u32 0; u32 0; u64 gpa; u64 size; size bytes, zero-padded to 8 }
// One VM section (VM-scoped registers, IDs with the scope bit), one section per vCPU in order, zero or more RAM
// sections (region indices 0, 1, ... in order), then an end section (tag "END!", vcpu 0xffffffff, no records).
//
// Save: RegisterCatalogue::prepare_save() first (the vGIC flushes LPI pending bits to the pending tables, each ITS
// runs SAVE_TABLES), then every register, then guest RAM -- so the RAM image carries those tables. vCPUs must be
// stopped and their list registers folded back into the vGIC (Vgic::fold) before saving.
// Restore: the whole stream is validated first (structure, known IDs, scope/section agreement, padding, vCPU
// count, RAM regions matching the destination's, every value by a dry-run SET: RegisterClass::validate, then the
// checks across records and the saved RAM: RegisterClass::check_snapshot -- the ITS tables in the RAM image) and
// only then applied: guest RAM first, then the records stage by stage (RegisterClass::restore_stage: vCPU
// registers + firmware, then the vGIC, then the ITS -- KVM's order). A refusal changes nothing. The streaming
// restore reads the records once (kept in a caller's buffer between check and apply). A SET error while applying
// (what no dry run covers) is returned as is, the record named in `why` (earlier records and RAM stay applied).
#pragma once

#include "core/guest_memory.hpp"
#include "core/reglist/catalogue.hpp"

namespace hv::reglist {

struct SnapshotInfo {
    static constexpr usize kAbiSlots = 4;
    static constexpr u32 kReglistAbi = 1;      // revision of the register ID/value conventions in docs/reglist.md
    static constexpr usize kAbiItsTables = 1;  // abi[] slot of the ITS table ABI revision
    u32 vcpu_count = 0;
    u32 abi[kAbiSlots] = {kReglistAbi, 0, 0, 0};
};

// A value the destination refused (validate/restore): where, the saved value (first 8 bytes), and why.
struct SnapshotRefusal {
    u32 vcpu = 0;  // kSnapshotVmSection for a VM-scoped record
    u64 id = 0;
    u64 saved = 0;
    Refusal why;
    bool applying = false;  // set by a restore once it starts changing the VM (every check passed)
};

// The records of a stream kept between check and apply (fixed 32-byte entries in a caller's buffer) and the
// offsets of its RAM sections.
class RecordStore {
public:
    static constexpr usize kEntrySize = 32;  // u32 vcpu, u8 size, u8 owner slot, u16 0, u64 id, 16 bytes of value
    static constexpr usize kMaxRam = 16;
    struct Entry {
        u32 vcpu = 0;
        u64 id = 0;
        Span<const u8> value;
        u8 owner = 0;  // the owning class as the check found it (RegisterCatalogue::slot_of), 0: none
    };
    struct Ram {
        u64 gpa = 0, size = 0, offset = 0;
    };
    explicit RecordStore(Span<u8> buf) : buf_(buf) {}
    [[nodiscard]] Status add(u32 vcpu, u64 id, Span<const u8> value, u8 owner = 0);
    [[nodiscard]] Status add_ram(u64 gpa, u64 size, u64 offset);
    usize count() const { return count_; }
    Entry at(usize i) const;
    usize ram_count() const { return ram_count_; }
    const Ram& ram(usize i) const { return ram_[i]; }

private:
    Span<u8> buf_;
    usize count_ = 0;
    Ram ram_[kMaxRam] = {};
    usize ram_count_ = 0;
};

constexpr u64 kSnapshotMagic = 0x3176504e53564855ull;  // "UHVSNPv1" read as little-endian bytes: 55 48 56 53 ...
constexpr u32 kSnapshotFormatVersion = 2;              // 1: registers only; 2: + RAM sections
constexpr usize kSnapshotHeaderSize = 48;
constexpr usize kSnapshotSectionSize = 16;
constexpr u32 kSnapshotTagVm = 0x204d5456;    // "VTM "
constexpr u32 kSnapshotTagVcpu = 0x55504356;  // "VCPU"
constexpr u32 kSnapshotTagRam = 0x204d4152;   // "RAM "
constexpr u32 kSnapshotTagEnd = 0x21444e45;   // "END!"
constexpr u32 kSnapshotVmSection = 0xffffffffu;

// Structural walk of a stream, without a catalogue (tools, and the first step of validate/restore). Callbacks
// see the pieces in stream order; a callback's error stops the walk and is returned. Structural problems are
// `corrupt`.
class SnapshotVisitor {
public:
    virtual Status header(const SnapshotInfo&) { return Status::ok; }
    // `vcpu` is kSnapshotVmSection for the VM section.
    virtual Status section(u32 /*vcpu*/, u32 /*record_count*/) { return Status::ok; }
    // `value` holds reg_size(id) bytes.
    virtual Status record(u32 /*vcpu*/, u64 /*id*/, Span<const u8> /*value*/) { return Status::ok; }
    virtual Status ram(u32 /*index*/, u64 /*gpa*/, Span<const u8> /*bytes*/) { return Status::ok; }
    // Before a RAM section's bytes (both parsers): `offset` = stream offset of its first byte. The streaming
    // parser calls only this for RAM (the bytes stay in the source; read them from `offset` if needed).
    virtual Status ram_region(u32 /*index*/, u64 /*gpa*/, u64 /*size*/, u64 /*offset*/) { return Status::ok; }

protected:
    ~SnapshotVisitor() = default;
};
[[nodiscard]] Status snapshot_parse(Span<const u8> in, SnapshotVisitor& v);

// Writes the catalogue's state (and `ram`'s regions, when given) into `out`; `used` = bytes written (or
// required, with out_of_range if too small). Runs cat.prepare_save() first.
[[nodiscard]] Status snapshot_save(RegisterCatalogue& cat, const SnapshotInfo& info, Span<u8> out, usize& used,
                                   const RegionGuestMemory* ram = nullptr);

// Parses and validates `in` against `cat` (corrupt on any structural problem, not_found for an ID the catalogue
// does not know, invalid_argument if the vCPU count differs or a RAM section does not match a region of `ram` --
// or the stream has RAM and `ram` is null); fills `info` from the header.
// A refused value is the class's error (invalid_argument, busy) with `why` filled when given.
[[nodiscard]] Status snapshot_validate(RegisterCatalogue& cat, Span<const u8> in, SnapshotInfo& info,
                                       const RegionGuestMemory* ram = nullptr, SnapshotRefusal* why = nullptr);

// snapshot_validate, then RAM, then every record through set_one_reg in restore-stage order.
[[nodiscard]] Status snapshot_restore(RegisterCatalogue& cat, Span<const u8> in, SnapshotInfo& info,
                                      RegionGuestMemory* ram = nullptr, SnapshotRefusal* why = nullptr);

// ---- Streaming form: a stream larger than any buffer (guest RAM), written in order and read by offset ----
// The bytes are exactly those of the buffer functions above (same format); only the transport differs.
class SnapshotSink {
public:
    [[nodiscard]] virtual Status write(const void* data, usize n) = 0;

protected:
    ~SnapshotSink() = default;
};
class SnapshotSource {
public:
    virtual u64 size() const = 0;
    // Exactly `n` bytes at `offset` (< size()), else an error.
    [[nodiscard]] virtual Status read(u64 offset, void* buf, usize n) = 0;

protected:
    ~SnapshotSource() = default;
};

// Size in bytes of the stream snapshot_save would write now (no prepare_save; vCPUs stopped).
[[nodiscard]] Status snapshot_stream_size(RegisterCatalogue& cat, const RegionGuestMemory* ram, u64& size);
// snapshot_save into `sink`: prepare_save, then header (payload size computed first), registers through a small
// buffer, RAM region by region straight from guest memory in chunks. `written` = bytes written.
[[nodiscard]] Status snapshot_save_stream(RegisterCatalogue& cat, const SnapshotInfo& info, SnapshotSink& sink,
                                          const RegionGuestMemory* ram, u64& written);
// snapshot_parse over a source; RAM sections are reported through ram_region() only (their padding is checked).
[[nodiscard]] Status snapshot_parse_stream(SnapshotSource& src, SnapshotVisitor& v);
// snapshot_validate / snapshot_restore over a source. Restore validates the whole stream first (nothing is
// changed on a validation error), then reads each RAM section straight into the matching region of `ram`, then
// applies the records stage by stage.
[[nodiscard]] Status snapshot_validate_stream(RegisterCatalogue& cat, SnapshotSource& src, SnapshotInfo& info,
                                              const RegionGuestMemory* ram = nullptr, SnapshotRefusal* why = nullptr);
// The restore reads the stream once: one pass checks everything and keeps the records in `scratch`
// (RecordStore::kEntrySize bytes per record; no_memory, before anything changes, if it is too small), then RAM is
// read into the regions and the kept records are applied.
[[nodiscard]] Status snapshot_restore_stream(RegisterCatalogue& cat, SnapshotSource& src, SnapshotInfo& info,
                                             RegionGuestMemory* ram, Span<u8> scratch, SnapshotRefusal* why = nullptr);

}  // namespace hv::reglist

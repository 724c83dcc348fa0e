// Helpers shared by the device-tree tests: load checked-in DTBs, parse a blob into PlatformInfo, run dtc on a blob.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "core/fdt/reader.hpp"
#include "core/platform.hpp"

namespace fdttest {

inline std::vector<unsigned char> load_data(const std::string& name) {
    std::ifstream f(std::string(HV_SOURCE_DIR) + "/tests/unit/data/" + name, std::ios::binary);
    return std::vector<unsigned char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// A blob, its reader and what parse_platform made of it (the blob outlives the reader).
struct ParsedPlatform {
    std::vector<unsigned char> blob;
    hv::fdt::Reader reader;
    std::unique_ptr<hv::PlatformInfo> info = std::make_unique<hv::PlatformInfo>();
    hv::Status status = hv::Status::ok;
};

inline std::unique_ptr<ParsedPlatform> parse_platform_blob(std::vector<unsigned char> blob) {
    auto p = std::make_unique<ParsedPlatform>();
    p->blob = std::move(blob);
    hv::Result<hv::fdt::Reader> r = hv::fdt::Reader::open(p->blob.data(), p->blob.size());
    EXPECT_TRUE(r.ok());
    p->reader = r.value();
    p->status = hv::parse_platform(p->reader, *p->info);
    return p;
}

// Decompiles a DTB with dtc; returns the DTS text (stderr folded in) and sets rc to dtc's exit status.
inline std::string dtc_decompile(const void* blob, size_t size, int& rc) {
    char path[] = "/tmp/hv_fdt_test_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        rc = -1;
        return {};
    }
    if (write(fd, blob, size) != static_cast<ssize_t>(size)) rc = -1;
    close(fd);
    std::string cmd = std::string("dtc -q -I dtb -O dts ") + path + " 2>&1";
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) {
        rc = -1;
        unlink(path);
        return {};
    }
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int st = pclose(p);
    rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    unlink(path);
    return out;
}

inline bool have_dtc() { return std::system("dtc --version >/dev/null 2>&1") == 0; }

}  // namespace fdttest

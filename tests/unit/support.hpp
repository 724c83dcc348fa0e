#pragma once

#include <string>

#include "lib/log.hpp"

namespace hvtest {
// Log lines written by the code under test since the last clear().
std::string& captured_log();
void install_log_capture();
}  // namespace hvtest

// The platform side of the firmware model and the counter clock, for build_vm (firmware_port.cpp).
#pragma once

#include "core/irq.hpp"
#include "psci/firmware.hpp"

namespace hv::arch {

psci::FirmwarePlatform& firmware_platform();
const Clock& counter_clock();

}  // namespace hv::arch

// Everything a payload needs: include this one header.
#pragma once

#include "tests/guest/runtime/console.hpp"
#include "tests/guest/runtime/exceptions.hpp"
#include "tests/guest/runtime/fdt.hpp"
#include "tests/guest/runtime/gic.hpp"
#include "tests/guest/runtime/smccc.hpp"
#include "tests/guest/runtime/smp.hpp"
#include "tests/guest/runtime/sysreg.hpp"
#include "tests/guest/runtime/test.hpp"

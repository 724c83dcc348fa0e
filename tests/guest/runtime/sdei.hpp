// SDEI (Arm DEN0054) for payloads: the one handler entry point a payload registers its events with. The dispatcher
// enters it with x0 = event, x1 = the registered argument, x2/x3 = the interrupted PC/PSTATE, on SP_EL1 with DAIF
// masked (DEN0054 6.2.1); it calls the payload's handler and completes the event. x18..x30 belong to the interrupted
// context (the callee-saved ones are kept by the C++ handler, x18/x29/x30 by the entry point); COMPLETE restores
// x0..x17.
#pragma once

#include "lib/types.hpp"

namespace rt::sdei {

using namespace hv;

// A payload's handler: returns 0 to complete with EVENT_COMPLETE (back to the interrupted context), or an address
// to complete with EVENT_COMPLETE_AND_RESUME there.
using Handler = u64 (*)(u64 event, u64 arg, u64 pc, u64 pstate);

// Makes `h` the handler the entry point calls (every event of the payload shares it) and returns the entry point's
// address: EVENT_REGISTER's entry_point argument. Call it before registering.
u64 entry_point(Handler h);

}  // namespace rt::sdei

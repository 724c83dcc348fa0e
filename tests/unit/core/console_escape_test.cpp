// core/console_escape: what the guest gets from host console input, and which commands the escape yields.
#include "core/console_escape.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace hv;

namespace {

struct Fed {
    std::string guest;
    std::vector<EscapeCommand> cmds;
};

Fed feed_all(ConsoleEscape& e, const std::string& in) {
    Fed f;
    for (char ch : in) {
        EscapeCommand cmd = EscapeCommand::none;
        int c = e.feed(static_cast<u8>(ch), cmd);
        if (c >= 0) f.guest.push_back(static_cast<char>(c));
        if (cmd != EscapeCommand::none) f.cmds.push_back(cmd);
    }
    return f;
}

}  // namespace

TEST(ConsoleEscape, PlainBytesPassUnchanged) {
    ConsoleEscape e;
    std::string all;
    for (int i = 0; i < 256; ++i)
        if (i != 0x1d) all.push_back(static_cast<char>(i));
    Fed f = feed_all(e, all);
    EXPECT_EQ(f.guest, all);
    EXPECT_TRUE(f.cmds.empty());
}

TEST(ConsoleEscape, CommandsAreConsumedAndReported) {
    ConsoleEscape e;
    Fed f = feed_all(e, "ab\x1dmc\x1dsd\x1di\x1dh\x1dxe");
    EXPECT_EQ(f.guest, "abcde");
    EXPECT_EQ(f.cmds, (std::vector<EscapeCommand>{EscapeCommand::migrate, EscapeCommand::save, EscapeCommand::info,
                                                  EscapeCommand::help, EscapeCommand::unknown}));
}

TEST(ConsoleEscape, DoubledEscapeSendsOneAndSplitInputKeepsState) {
    ConsoleEscape e;
    Fed f = feed_all(e, "\x1d\x1d\x1d\x1d");
    EXPECT_EQ(f.guest, "\x1d\x1d");
    EXPECT_TRUE(f.cmds.empty());
    feed_all(e, "\x1d");  // the letter arrives in a later interrupt
    EXPECT_TRUE(e.armed());
    f = feed_all(e, "m\n");
    EXPECT_EQ(f.guest, "\n");
    EXPECT_EQ(f.cmds, std::vector<EscapeCommand>{EscapeCommand::migrate});
}

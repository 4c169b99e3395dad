// RunLoad: one chat-loadgen run from start to verdict, on the calling (coordinator) thread. It starts
// the workers, provisions or resumes the devices and chats, carries out the mode, waits for what is
// outstanding, checks every expected delivery and gathers the server's figures into a Report.
#pragma once

#include "options.h"
#include "progress.h"
#include "report.h"

namespace chat::loadgen {

// Blocks for the whole run. Never throws; a run that cannot be carried out comes back with
// Report::fatal set.
Report RunLoad(const Options& options, Progress& progress);

}  // namespace chat::loadgen

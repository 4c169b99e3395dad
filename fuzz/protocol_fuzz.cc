// libFuzzer target: one chat-protocol frame, as a WebSocket session handles it once received.
// ParseRequest decodes it; a known command then runs its handler (argument decoding, validation, the
// ChatService call on a real in-memory store) as a worker would; the outcome is encoded as the
// response frame. Input: the first byte picks the caller (nobody, the group's owner, a member), the
// rest is the frame's text.
//
// A crash, a sanitizer report, an exception escaping a handler (chatd answers "internal error" for
// one, but it is a bug) or a hang is a finding: add the input to tests as a regression case.
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <string_view>

#include "commands.h"
#include "protocol.h"
#include "server_state.h"
#include "world.h"

namespace {

using namespace chat;
using namespace chat::detail;

// Rebuilt after this many inputs, or at once when an input logged a device out.
constexpr int kInputsPerWorld = 2000;

struct Harness {
  std::unique_ptr<fuzz::World> world;
  std::unique_ptr<ServerState> state;
  int inputs = 0;

  void Rebuild() {
    state.reset();  // Before the service it refers to.
    world = fuzz::MakeWorld();
    ServerOptions options;
    options.workers = 1;
    state = std::make_unique<ServerState>(options, *world->service, [] {});
    fuzz::Check(state->StartCalls().ok(), "start the call manager");
    inputs = 0;
  }

  ~Harness() {
    if (state) state->StopCalls();
  }
};

Harness& TheHarness() {
  static Harness* harness = [] {
    auto* h = new Harness;  // Never destroyed: libFuzzer exits without unwinding.
    h->Rebuild();
    return h;
  }();
  return *harness;
}

CommandOutcome Run(const CommandSpec& spec, CommandContext& ctx, const Caller& caller, Args& args) {
  if (spec.run != nullptr) return spec.run(ctx, caller, args);
  std::promise<CommandOutcome> answered;
  auto outcome = answered.get_future();
  spec.run_async(ctx, caller, args, [&answered](CommandOutcome o) { answered.set_value(std::move(o)); });
  return outcome.get();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Harness& h = TheHarness();
  if (++h.inputs > kInputsPerWorld) h.Rebuild();

  Caller caller;
  switch (data[0] % 3) {
    case 0:
      break;  // Not signed in.
    case 1:
      caller.user = h.world->alice.user.id;
      caller.device = h.world->alice.device.id;
      break;
    default:
      caller.user = h.world->bob.user.id;
      caller.device = h.world->bob.device.id;
      break;
  }
  caller.remote = "127.0.0.1:9";
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  Request request;
  WireError error;
  Json error_id;
  if (!ParseRequest(text, &request, &error, &error_id)) {
    EncodeError(error_id, error);
    return 0;
  }
  const CommandSpec* spec = FindCommand(request.cmd);
  if (spec == nullptr || (spec->needs_auth && caller.user == 0)) return 0;

  Args args(request.args);
  CommandContext ctx = h.state->Context();
  CommandOutcome outcome = Run(*spec, ctx, caller, args);
  auto frame = outcome.ok ? EncodeResult(request.id, outcome.result) : EncodeError(request.id, outcome.error);
  if (frame->empty()) __builtin_trap();  // Every outcome encodes to a frame.
  if (outcome.effect == SessionEffect::kLoggedOut) h.Rebuild();
  return 0;
}

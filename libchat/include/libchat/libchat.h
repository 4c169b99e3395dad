// Umbrella header: the whole public API of libchat::core.
#pragma once

#include "libchat/blob.h"
#include "libchat/bus.h"
#include "libchat/clock.h"
#include "libchat/kv.h"
#include "libchat/options.h"
#include "libchat/push.h"
#include "libchat/registry.h"
#include "libchat/result.h"
#include "libchat/service.h"
#include "libchat/status.h"
#include "libchat/store.h"
#include "libchat/types.h"
#include "libchat/uri.h"
#include "libchat/version.h"

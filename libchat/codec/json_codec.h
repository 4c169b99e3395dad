// Entity <-> JSON in the camelCase forms of protocol v1 (docs/protocol.md) and the admin API
// (docs/admin.md). The server, the admin views and chat::Client all encode and decode entities here;
// which fields each form shows is listed once, in schema.h.
//
// Encoding never throws: text that is not valid UTF-8 (which validated input cannot hold) is replaced
// when dumped (Dump). Decoding never throws either: a wrong type is an InvalidArgument naming the field.
//
// Internal to libchat; not installed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "libchat/result.h"
#include "schema.h"

namespace chat::codec {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

// The fields of `entity` that `form` shows, as one JSON object. Keys come out sorted (nlohmann::json's
// map): the bytes of a form are the same for the same entity.
// Defined for User, UserBan, UserBlock, Device, Chat, Participant, Message, ReceiptCursor, SpamFlag,
// SpamReport, Attachment, ChatSummary and Session.
template <typename T>
Json ToJson(const T& entity, Form form);
// The same in the schema's field order (the admin API keeps its answers in a reading order).
template <typename T>
OrderedJson ToOrderedJson(const T& entity, Form form);

// Reads an entity from an object in any of the forms in `forms` (a mask of Form bits): each field
// those forms show is read if present. Lenient where the protocol may grow and strict where the input
// is wrong: a missing or null field keeps its default, and an enum name this build does not know reads
// as the field's default (a newer server's new message kind must not make the frame unreadable); a
// value of the wrong type, or not an object at all, is InvalidArgument naming the entity and the key
// ("message.seq: expected a non-negative integer, got string").
template <typename T>
Result<T> FromJson(const Json& json, std::uint8_t forms);

// Serialises compactly without ever throwing: invalid UTF-8 is replaced by U+FFFD.
std::string Dump(const Json& json);

}  // namespace chat::codec

// The JSON text of results and rejects (docs/SEMANTICS.md, DESIGN §2). One
// writer for every sink, so stdout, files and Kafka carry identical bytes.
#pragma once

#include <string>
#include <string_view>

#include "processor/counter.h"
#include "processor/frame.h"

namespace uniqd::processor {

// {"window":"minute","start":"…Z","end":"…Z","start_ts":…,"end_ts":…,
//  "unique_users":…,"frames":…,"final":true,"revision":0}
void append_result_json(std::string& out, const WindowResult& r);
// Kafka record key: "<window>/<start_ts>", e.g. "minute/1468244340".
std::string result_key(const WindowResult& r);

// A JSON string literal of bytes. Valid UTF-8 is kept (escaping what JSON
// requires); returns false, appending nothing, when bytes are not valid UTF-8.
bool append_json_string(std::string& out, std::string_view bytes);
bool is_valid_utf8(std::string_view bytes);
void append_base64(std::string& out, std::string_view bytes);

// One reject as a JSON line for files: {"reason":…,"partition":…,"offset":…,
// "bytes":N,"frame":"…"} — or "frame_base64" when the frame is not UTF-8, and
// "truncated":true when only the first bytes of a too-large frame were kept.
void append_reject_json(std::string& out, RejectReason reason, std::string_view bytes, const SourcePosition& pos,
                        std::uint64_t full_size, bool line_numbers);

}  // namespace uniqd::processor

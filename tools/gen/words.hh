// Word lists for uniqd-gen frames.
#pragma once

#include <array>
#include <string_view>

namespace uniqd::gen::words {

using namespace std::string_view_literals;

// Short lowercase keys. Never "uid" or "ts" (those are placed on purpose).
inline constexpr std::array kKeys = {
    "id"sv,     "name"sv,   "type"sv,   "value"sv, "data"sv,   "meta"sv,   "tags"sv,
    "user"sv,   "page"sv,   "ref"sv,    "url"sv,   "path"sv,   "host"sv,   "ip"sv,
    "agent"sv,  "lang"sv,   "geo"sv,    "city"sv,  "zip"sv,    "lat"sv,    "lon"sv,
    "score"sv,  "rank"sv,   "count"sv,  "size"sv,  "width"sv,  "height"sv, "color"sv,
    "mode"sv,   "kind"sv,   "level"sv,  "flag"sv,  "ok"sv,     "err"sv,    "code"sv,
    "msg"sv,    "text"sv,   "title"sv,  "body"sv,  "items"sv,  "list"sv,   "map"sv,
    "key"sv,    "val"sv,    "src"sv,    "dst"sv,   "from"sv,   "to"sv,     "at"sv,
    "time"sv,   "date"sv,   "day"sv,    "week"sv,  "month"sv,  "year"sv,   "zone"sv,
    "ua"sv,     "os"sv,     "app"sv,    "ver"sv,   "build"sv,  "env"sv,    "region"sv,
    "shard"sv,  "node"sv,   "pid"sv,    "tid"sv,   "seq"sv,    "hash"sv,   "sig"sv,
    "poll"sv,   "vote"sv,   "slot"sv,   "event"sv, "action"sv, "label"sv,  "group"sv,
    "owner"sv,  "admin"sv,  "guest"sv,  "email"sv, "phone"sv,  "note"sv,   "extra"sv,
    "payload"sv, "source"sv, "target"sv, "price"sv, "cur"sv,   "amount"sv, "total"sv,
    "min"sv,    "max"sv,    "avg"sv,    "sum"sv,   "step"sv,   "state"sv,  "status"sv,
    "a"sv,      "b"sv,      "c"sv,      "x"sv,     "y"sv,      "z"sv,      "foo"sv,
    "bar"sv,    "baz"sv,    "qux"sv,    "alpha"sv, "beta"sv,   "gamma"sv,  "delta"sv,
};

// Root keys that look like uid/ts but are not (as JSON text, with quotes).
// "u\u0069ds" unescapes to "uids", "\u0074sx" to "tsx": neither is uid/ts.
inline constexpr std::array kRootDecoyKeys = {
    R"("uids")"sv,  R"("Uid")"sv,  R"("UID")"sv,   R"("TS")"sv,        R"("Ts")"sv,
    R"("uid_")"sv,  R"("_ts")"sv,  R"("tsx")"sv,   R"("u_id")"sv,      R"("user_uid")"sv,
    R"("uid ")"sv,  R"(" ts")"sv,  R"("ts_ms")"sv, R"("u\u0069ds")"sv, R"("\u0074sx")"sv,
    R"("uid\u0000")"sv, R"("t\u0053")"sv,
};

// Lowercase ASCII words for string values.
inline constexpr std::array kAscii = {
    "the"sv,    "quick"sv,  "brown"sv,  "fox"sv,    "jumps"sv,  "over"sv,    "lazy"sv,
    "dog"sv,    "lorem"sv,  "ipsum"sv,  "dolor"sv,  "sit"sv,    "amet"sv,    "data"sv,
    "stream"sv, "kafka"sv,  "frame"sv,  "window"sv, "minute"sv, "user"sv,    "unique"sv,
    "count"sv,  "poll"sv,   "doodle"sv, "meeting"sv, "calendar"sv, "invite"sv, "zurich"sv,
    "event"sv,  "click"sv,  "view"sv,   "page"sv,   "home"sv,   "login"sv,   "logout"sv,
    "mobile"sv, "desktop"sv, "chrome"sv, "firefox"sv, "safari"sv, "linux"sv, "android"sv,
    "ios"sv,    "ok"sv,     "error"sv,  "timeout"sv, "retry"sv, "done"sv,    "pending"sv,
    "red"sv,    "green"sv,  "blue"sv,   "a"sv,      "is"sv,     "of"sv,      "and"sv,
    "https://example.com/p?q=1&r=2"sv, "v1.2.3"sv, "2016-07-11"sv, "13:39:00"sv,
    "uid"sv,    "ts"sv,     "\\\"uid\\\":\\\"x\\\""sv,
};

// Cyrillic words (2-byte UTF-8).
inline constexpr std::array kCyrillic = {
    "привет"sv,  "мир"sv,      "данные"sv,  "пользователь"sv, "время"sv,   "окно"sv,
    "строка"sv,  "ключ"sv,     "значение"sv, "событие"sv,     "сервер"sv,  "запрос"sv,
    "ответ"sv,   "ошибка"sv,   "город"sv,   "Москва"sv,       "Цюрих"sv,   "день"sv,
    "неделя"sv,  "месяц"sv,    "год"sv,     "счёт"sv,         "тест"sv,    "журнал"sv,
    "поток"sv,   "ЁЖИК"sv,     "съешь"sv,   "ещё"sv,          "этих"sv,    "мягких"sv,
    "французских"sv, "булок"sv, "да"sv,     "выпей"sv,        "чаю"sv,     "уид"sv,
};

// Other raw UTF-8 (2-, 3- and 4-byte sequences).
inline constexpr std::array kOtherUtf8 = {
    "é"sv, "ß"sv, "Ω"sv, "√"sv, "€"sv, "日本語"sv, "中文"sv, "한국어"sv, "😀"sv, "🚀"sv,
    "𝄞"sv, "ü"sv, "ñ"sv, "…"sv, "\u2028"sv, "\u00a0"sv,
};

// Valid two-character escapes.
inline constexpr std::array kEscapes = {
    "\\\""sv, "\\\\"sv, "\\/"sv, "\\b"sv, "\\f"sv, "\\n"sv, "\\r"sv, "\\t"sv,
};

}  // namespace uniqd::gen::words

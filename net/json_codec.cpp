#include "net/json_codec.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <limits>
#include <set>

namespace orchestrator {

namespace {

bool has_control_character(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](unsigned char c) {
    return c < 0x20 || c == 0x7f;
  });
}

/// Reads the fields of one JSON object and collects every problem, so a
/// client sees all of them in one 422 reply.
class object_reader {
public:
  object_reader(const json& object, std::vector<std::string> loc,
                std::vector<field_error>& errors)
    : object_(object), loc_(std::move(loc)), errors_(errors) {
  }

  std::optional<std::string> string_field(const char* key, bool required,
                                          std::size_t max_length,
                                          std::optional<std::string> fallback
                                          = std::nullopt) {
    auto i = object_.find(key);
    if (i == object_.end() || i->is_null())
      return missing(key, required, std::move(fallback));
    if (!i->is_string()) {
      fail(key, "value is not a valid string", "type_error.str");
      return std::nullopt;
    }
    auto value = i->get<std::string>();
    if (value.size() > max_length) {
      fail(key,
           "ensure this value has at most " + std::to_string(max_length)
             + " characters",
           "value_error.any_str.max_length");
      return std::nullopt;
    }
    if (has_control_character(value)) {
      fail(key, "must not contain control characters (U+0000 to U+001F, "
                "U+007F)",
           "value_error.str.control_character");
      return std::nullopt;
    }
    return value;
  }

  std::optional<std::int64_t> int_field(const char* key, bool required,
                                        std::int64_t min, std::int64_t max,
                                        std::optional<std::int64_t> fallback
                                        = std::nullopt) {
    auto i = object_.find(key);
    if (i == object_.end() || i->is_null())
      return missing(key, required, fallback);
    auto value = as_integer(*i);
    if (!value) {
      fail(key, "value is not a valid integer", "type_error.integer");
      return std::nullopt;
    }
    if (*value < min || *value > max) {
      fail(key,
           "ensure this value is between " + std::to_string(min) + " and "
             + std::to_string(max),
           "value_error.number.not_in_range");
      return std::nullopt;
    }
    return value;
  }

  std::optional<double> number_field(const char* key, bool required,
                                     double min, double max) {
    auto i = object_.find(key);
    if (i == object_.end() || i->is_null())
      return missing<double>(key, required, std::nullopt);
    if (!i->is_number()) {
      fail(key, "value is not a valid number", "type_error.float");
      return std::nullopt;
    }
    auto value = i->get<double>();
    if (!std::isfinite(value) || value < min || value > max) {
      fail(key,
           "ensure this value is between " + format_number(min) + " and "
             + format_number(max),
           "value_error.number.not_in_range");
      return std::nullopt;
    }
    return value;
  }

  /// Reads an array of integers of at least `min`; `max_items` bounds its
  /// length.
  std::optional<std::vector<std::int64_t>>
  int_array_field(const char* key, bool required, std::size_t max_items,
                  std::int64_t min = 1) {
    auto i = object_.find(key);
    if (i == object_.end() || i->is_null())
      return missing<std::vector<std::int64_t>>(key, required, std::nullopt);
    if (!i->is_array()) {
      fail(key, "value is not a valid list", "type_error.list");
      return std::nullopt;
    }
    if (i->size() > max_items) {
      fail(key,
           "ensure this list has at most " + std::to_string(max_items)
             + " items",
           "value_error.list.max_items");
      return std::nullopt;
    }
    std::vector<std::int64_t> result;
    result.reserve(i->size());
    bool ok = true;
    for (std::size_t k = 0; k < i->size(); ++k) {
      auto value = as_integer((*i)[k]);
      if (!value) {
        errors_.push_back(field_error{path(key, std::to_string(k)),
                                      "value is not a valid integer",
                                      "type_error.integer"});
        ok = false;
        continue;
      }
      if (*value < min) {
        errors_.push_back(field_error{path(key, std::to_string(k)),
                                      "ensure this value is at least "
                                        + std::to_string(min),
                                      "value_error.number.not_ge"});
        ok = false;
        continue;
      }
      result.push_back(*value);
    }
    if (!ok)
      return std::nullopt;
    return result;
  }

  const json* object_field(const char* key) {
    auto i = object_.find(key);
    if (i == object_.end() || i->is_null())
      return nullptr;
    if (!i->is_object()) {
      fail(key, "value is not a valid dict", "type_error.dict");
      return nullptr;
    }
    return &*i;
  }

  void fail(const char* key, std::string msg, std::string type) {
    errors_.push_back(field_error{path(key), std::move(msg), std::move(type)});
  }

  std::vector<std::string> path(const char* key,
                                std::optional<std::string> index
                                = std::nullopt) const {
    auto result = loc_;
    result.emplace_back(key);
    if (index)
      result.push_back(*index);
    return result;
  }

  static std::optional<std::int64_t> as_integer(const json& value) {
    if (value.is_number_integer()) {
      if (value.is_number_unsigned()
          && value.get<std::uint64_t>()
               > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
        return std::nullopt;
      return value.get<std::int64_t>();
    }
    // Pydantic accepted 5.0 for an int field; deployed clients may rely on it.
    if (value.is_number_float()) {
      auto x = value.get<double>();
      if (std::isfinite(x) && std::floor(x) == x && std::fabs(x) < 9.0e15)
        return static_cast<std::int64_t>(x);
    }
    return std::nullopt;
  }

private:
  template <class T>
  std::optional<T> missing(const char* key, bool required,
                           std::optional<T> fallback) {
    if (required)
      fail(key, "field required", "value_error.missing");
    return fallback;
  }

  static std::string format_number(double x) {
    if (std::floor(x) == x && std::fabs(x) < 1e15)
      return std::to_string(static_cast<std::int64_t>(x));
    return std::to_string(x);
  }

  const json& object_;
  std::vector<std::string> loc_;
  std::vector<field_error>& errors_;
};

/// Reads `server_id` and checks its characters.
std::optional<std::string> read_server_id(object_reader& reader) {
  auto id = reader.string_field("server_id", true, 128);
  if (id && !valid_server_id(*id)) {
    reader.fail("server_id",
                "must be 1 to 128 printable ASCII characters without spaces "
                "or '/'",
                "value_error.server_id");
    return std::nullopt;
  }
  return id;
}

template <class T>
decoded<T> finish(std::optional<T> value, std::vector<field_error> errors) {
  decoded<T> result;
  if (errors.empty())
    result.value = std::move(value);
  result.errors = std::move(errors);
  return result;
}

decoded<json> require_object(const json& body) {
  decoded<json> result;
  if (!body.is_object())
    result.errors.push_back(field_error{{"body"},
                                        "value is not a valid dict",
                                        "type_error.dict"});
  else
    result.value = body;
  return result;
}

std::optional<metrics_sample> read_metrics(const json& object,
                                           std::vector<field_error>& errors) {
  object_reader reader{object, {"body", "system_metrics"}, errors};
  auto before = errors.size();
  metrics_sample sample;
  constexpr double max_gb = 1.0e9;
  auto cpu = reader.number_field("cpu_percent", true, 0, 100);
  auto memory = reader.number_field("memory_percent", true, 0, 100);
  auto memory_used = reader.number_field("memory_used_gb", true, 0, max_gb);
  auto memory_total = reader.number_field("memory_total_gb", true, 0, max_gb);
  auto disk = reader.number_field("disk_percent", true, 0, 100);
  auto disk_free = reader.number_field("disk_free_gb", true, 0, max_gb);
  auto disk_total = reader.number_field("disk_total_gb", true, 0, max_gb);
  auto uptime = reader.number_field("uptime_seconds", false, 0, 1.0e11);
  if (auto i = object.find("load_average"); i != object.end() && !i->is_null()) {
    bool valid = i->is_array() && i->size() == 3;
    for (std::size_t k = 0; valid && k < 3; ++k)
      valid = (*i)[k].is_number() && std::isfinite((*i)[k].get<double>())
              && (*i)[k].get<double>() >= 0;
    if (!valid)
      reader.fail("load_average",
                  "must be a list of three non-negative numbers [1m, 5m, 15m]",
                  "value_error.load_average");
    else
      for (const auto& x : *i)
        sample.load_average.push_back(x.get<double>());
  }
  if (errors.size() != before)
    return std::nullopt;
  sample.cpu_percent = *cpu;
  sample.memory_percent = *memory;
  sample.memory_used_gb = *memory_used;
  sample.memory_total_gb = *memory_total;
  sample.disk_percent = *disk;
  sample.disk_free_gb = *disk_free;
  sample.disk_total_gb = *disk_total;
  sample.uptime_seconds = uptime.value_or(-1);
  return sample;
}

} // namespace

json validation_body(const std::vector<field_error>& errors) {
  auto detail = json::array();
  for (const auto& e : errors)
    detail.push_back({{"loc", e.loc}, {"msg", e.msg}, {"type", e.type}});
  return {{"detail", std::move(detail)}};
}

decoded<json> parse_json(std::string_view text) {
  decoded<json> result;
  // Count nesting outside string literals; the parser validates the rest.
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_json_depth) {
        result.errors.push_back(field_error{
          {"body"},
          "JSON nesting exceeds " + std::to_string(max_json_depth) + " levels",
          "value_error.jsondecode.depth"});
        return result;
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  // Parsers differ in which of two values under one key they keep, so a
  // repeated key is an error instead of a silent choice.
  std::vector<std::set<std::string>> open_objects;
  std::optional<std::string> repeated;
  json::parser_callback_t track_keys = [&](int, json::parse_event_t event,
                                           json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !repeated
               && !open_objects.back().insert(parsed.get<std::string>()).second) {
      repeated = parsed.get<std::string>();
    }
    return true;
  };
  auto value = json::parse(text, track_keys, false);
  if (!value.is_discarded() && repeated) {
    // A long key is cut at a character boundary, so the reply stays small
    // and valid UTF-8.
    constexpr std::size_t max_shown = 100;
    if (repeated->size() > max_shown) {
      auto cut = max_shown;
      while (cut > 0 && (static_cast<unsigned char>((*repeated)[cut]) & 0xc0) == 0x80)
        --cut;
      *repeated = repeated->substr(0, cut) + "...";
    }
    result.errors.push_back(field_error{{"body"},
                                        "the key \"" + *repeated
                                          + "\" appears twice in one JSON "
                                            "object; send each key once",
                                        duplicate_key_error});
    return result;
  }
  if (value.is_discarded()) {
    result.errors.push_back(field_error{{"body"},
                                        "request body is not valid JSON",
                                        "value_error.jsondecode"});
    return result;
  }
  result.value = std::move(value);
  return result;
}

decoded<json> parse_object(std::string_view text) {
  auto parsed = parse_json(text);
  if (!parsed)
    return parsed;
  return require_object(*parsed.value);
}

bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    // The lead byte gives the length and the smallest code point that
    // needs it; anything smaller is an overlong form.
    std::size_t length = 0;
    std::uint32_t code = 0;
    std::uint32_t min = 0;
    if (lead >= 0xc2 && lead <= 0xdf) {
      length = 2;
      code = lead & 0x1fu;
      min = 0x80;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      code = lead & 0x0fu;
      min = 0x800;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      code = lead & 0x07u;
      min = 0x10000;
    } else {
      return false;
    }
    if (i + length > text.size())
      return false;
    for (std::size_t k = 1; k < length; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80)
        return false;
      code = (code << 6) | (next & 0x3fu);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
      return false;
    i += length;
  }
  return true;
}

std::optional<std::int64_t> parse_stream_id(std::string_view text) {
  std::int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(),
                                      value);
  if (error != std::errc{} || end != text.data() + text.size() || value < 1
      || text.front() == '0')
    return std::nullopt;
  return value;
}

bool valid_server_id(std::string_view id) {
  if (id.empty() || id.size() > 128)
    return false;
  for (unsigned char c : id)
    if (c <= 0x20 || c >= 0x7f || c == '/')
      return false;
  return true;
}

decoded<registration> decode_registration(const json& body,
                                          const decode_limits& limits) {
  std::vector<field_error> errors;
  object_reader reader{body, {"body"}, errors};
  auto id = read_server_id(reader);
  auto ip = reader.string_field("ip", true, 253);
  if (ip && ip->empty()) {
    reader.fail("ip", "must not be empty", "value_error.any_str.min_length");
    ip.reset();
  } else if (ip && ip->find(' ') != std::string::npos) {
    reader.fail("ip", "must be an address or host name without spaces",
                "value_error.ip");
    ip.reset();
  }
  auto port = reader.int_field("port", true, 1, 65535);
  auto max_streams = reader.int_field("max_streams", false, 0,
                                      limits.max_streams_limit,
                                      limits.default_max_streams);
  auto weight = reader.number_field("weight", false, 0.001, 1000);
  std::optional<registration> value;
  if (errors.empty())
    value = registration{*id, *ip, static_cast<std::uint16_t>(*port),
                         static_cast<std::uint32_t>(*max_streams),
                         weight.value_or(0.0)};
  return finish(std::move(value), std::move(errors));
}

namespace {

/// Reads a worker id from `key` with the same rules as server_id.
std::optional<std::string> read_worker_id(object_reader& reader, const char* key) {
  auto id = reader.string_field(key, true, 128);
  if (id && !valid_server_id(*id)) {
    reader.fail(key,
                "must be 1 to 128 printable ASCII characters without spaces "
                "or '/'",
                "value_error.server_id");
    return std::nullopt;
  }
  return id;
}

/// Reads the registration fields the two /api requests share: the id under
/// `id_key`, worker_type, capacity, ip and port, the last two also from
/// metadata.
std::optional<api_registration>
read_api_registration(object_reader& reader, const char* id_key,
                      const decode_limits& limits, std::uint32_t max_capacity,
                      std::vector<field_error>& errors) {
  auto before = errors.size();
  auto id = read_worker_id(reader, id_key);
  auto type = reader.string_field("worker_type", false, 64, "");
  auto capacity = reader.int_field("capacity", false, 0, 10'000'000,
                                   limits.default_max_streams);
  auto ip = reader.string_field("ip", false, 253, "");
  auto port = reader.int_field("port", false, 0, 65535, 0);
  if (const auto* metadata = reader.object_field("metadata")) {
    object_reader inner{*metadata, {"body", "metadata"}, errors};
    auto meta_ip = inner.string_field("ip", false, 253, "");
    auto meta_port = inner.int_field("port", false, 0, 65535, 0);
    inner.string_field("version", false, 64, "");
    inner.string_field("region", false, 64, "");
    if (ip && ip->empty() && meta_ip)
      ip = meta_ip;
    if (port && *port == 0 && meta_port)
      port = meta_port;
  }
  if (errors.size() != before)
    return std::nullopt;
  api_registration result;
  result.requested_capacity = *capacity;
  result.capped = *capacity > max_capacity;
  result.request.server_id = *id;
  result.request.ip = *ip;
  result.request.port = static_cast<std::uint16_t>(*port);
  result.request.max_streams = static_cast<std::uint32_t>(
    std::min<std::int64_t>(*capacity, max_capacity));
  result.request.worker_type = *type;
  return result;
}

/// Reads the system metrics of an /api heartbeat, whose clients send fewer
/// fields than the first generation's: every field is optional, and a sample
/// is kept only when it names the CPU and memory use.
std::optional<metrics_sample> read_api_metrics(const json& object,
                                               std::vector<field_error>& errors) {
  object_reader reader{object, {"body", "metrics", "system"}, errors};
  auto before = errors.size();
  constexpr double max_gb = 1.0e9;
  auto cpu = reader.number_field("cpu_percent", false, 0, 100);
  auto memory = reader.number_field("memory_percent", false, 0, 100);
  auto memory_used = reader.number_field("memory_used_gb", false, 0, max_gb);
  auto memory_total = reader.number_field("memory_total_gb", false, 0, max_gb);
  auto disk = reader.number_field("disk_percent", false, 0, 100);
  auto disk_free = reader.number_field("disk_free_gb", false, 0, max_gb);
  auto disk_total = reader.number_field("disk_total_gb", false, 0, max_gb);
  auto uptime = reader.number_field("uptime_seconds", false, 0, 1.0e11);
  if (errors.size() != before || !cpu || !memory)
    return std::nullopt;
  metrics_sample sample;
  sample.cpu_percent = *cpu;
  sample.memory_percent = *memory;
  sample.memory_used_gb = memory_used.value_or(0);
  sample.memory_total_gb = memory_total.value_or(0);
  sample.disk_percent = disk.value_or(0);
  sample.disk_free_gb = disk_free.value_or(0);
  sample.disk_total_gb = disk_total.value_or(0);
  sample.uptime_seconds = uptime.value_or(-1);
  if (auto i = object.find("load_average");
      i != object.end() && i->is_array() && i->size() == 3) {
    for (const auto& x : *i)
      if (x.is_number() && std::isfinite(x.get<double>()) && x.get<double>() >= 0)
        sample.load_average.push_back(x.get<double>());
    if (sample.load_average.size() != 3)
      sample.load_average.clear();
  }
  return sample;
}

} // namespace

decoded<api_registration> decode_api_registration(const json& body,
                                                  const decode_limits& limits,
                                                  std::uint32_t max_capacity) {
  std::vector<field_error> errors;
  object_reader reader{body, {"body"}, errors};
  auto result = read_api_registration(reader, "instance_id", limits,
                                      max_capacity, errors);
  reader.string_field("status", false, 64, "active");
  if (auto m = body.find("metadata"); m != body.end() && m->is_object()) {
    auto c = m->find("capabilities");
    if (c != m->end() && !c->is_null() && !c->is_array())
      errors.push_back(field_error{{"body", "metadata", "capabilities"},
                                   "value is not a valid list",
                                   "type_error.list"});
  }
  return finish(std::move(result), std::move(errors));
}

decoded<api_heartbeat> decode_api_heartbeat(const json& body,
                                            const decode_limits& limits,
                                            std::uint32_t max_capacity) {
  std::vector<field_error> errors;
  object_reader reader{body, {"body"}, errors};
  auto registration = read_api_registration(reader, "worker_instance_id",
                                            limits, max_capacity, errors);
  auto status = reader.string_field("status", false, 64, "active");
  // The worker's own counts are checked for type and range, but the
  // orchestrator counts from its assignments, never from these.
  reader.int_field("current_load", false, 0, 10'000'000, 0);
  reader.int_field("available_capacity", false, -10'000'000, 10'000'000, 0);
  std::optional<metrics_sample> metrics;
  if (const auto* all = reader.object_field("metrics")) {
    object_reader inner{*all, {"body", "metrics"}, errors};
    if (const auto* system = inner.object_field("system"))
      metrics = read_api_metrics(*system, errors);
    inner.object_field("worker");
  }
  if (auto i = body.find("timestamp");
      i != body.end() && !i->is_null() && !i->is_string() && !i->is_number())
    reader.fail("timestamp", "must be an ISO-8601 string or a number",
                "type_error.timestamp");
  else if (i != body.end() && i->is_string())
    reader.string_field("timestamp", false, 64);
  std::optional<api_heartbeat> value;
  if (errors.empty()) {
    api_heartbeat result;
    result.beat.server_id = registration->request.server_id;
    result.beat.reported_status = *status;
    result.metrics = metrics;
    result.registration = *registration;
    value = std::move(result);
  }
  return finish(std::move(value), std::move(errors));
}

decoded<api_stream_update> decode_api_stream_update(const json& body) {
  std::vector<field_error> errors;
  object_reader reader{body, {"body"}, errors};
  // The assign reply gives stream_id as a string and id as a number;
  // clients send back either.
  std::optional<std::int64_t> stream_id;
  if (auto i = body.find("stream_id"); i == body.end() || i->is_null()) {
    reader.fail("stream_id", "field required", "value_error.missing");
  } else if (i->is_string()) {
    stream_id = parse_stream_id(i->get_ref<const std::string&>());
    if (!stream_id)
      reader.fail("stream_id", "must be a stream id: an integer or a string "
                               "of digits",
                  "type_error.integer");
  } else {
    stream_id = reader.int_field("stream_id", true, 1,
                                 std::numeric_limits<std::int64_t>::max());
  }

  auto worker = read_worker_id(reader, "worker_instance_id");
  auto status = reader.string_field("status", true, 32);
  bool known = false;
  bool ends = false;
  if (status) {
    for (std::size_t k = 0; k < std::size(api_stream_statuses); ++k)
      if (*status == api_stream_statuses[k]) {
        known = true;
        ends = k < 3;
      }
    if (!known)
      reader.fail("status",
                  "must be one of completed, failed, cancelled (these end the "
                  "worker's ownership), processing, running, started or "
                  "pending",
                  "value_error.enum");
  }
  reader.object_field("result");

  std::optional<api_stream_update> value;
  if (errors.empty())
    value = api_stream_update{*worker, *stream_id, *status, ends};
  return finish(std::move(value), std::move(errors));
}

decoded<heartbeat_request> decode_heartbeat(const json& body,
                                            const decode_limits& limits) {
  std::vector<field_error> errors;
  object_reader reader{body, {"body"}, errors};
  auto id = read_server_id(reader);
  auto count = reader.int_field("current_streams", true, 0, 10'000'000);
  auto status = reader.string_field("status", false, 64, "active");
  std::optional<metrics_sample> metrics;
  if (const auto* object = reader.object_field("system_metrics"))
    metrics = read_metrics(*object, errors);
  auto listed = reader.int_array_field("stream_ids", false,
                                       limits.max_ids_per_request);
  std::optional<heartbeat_request> value;
  if (errors.empty())
    value = heartbeat_request{
      heartbeat{*id, *count, *status, listed.has_value(),
                listed.value_or(std::vector<std::int64_t>{})},
      metrics};
  return finish(std::move(value), std::move(errors));
}

decoded<assign_request> decode_assign(const json& body,
                                      const decode_limits& limits) {
  std::vector<field_error> errors;
  object_reader reader{body, {"body"}, errors};
  auto id = read_server_id(reader);
  auto count = reader.int_field("requested_count", false, 1,
                                limits.max_streams_limit, 20);
  std::optional<assign_request> value;
  if (errors.empty())
    value = assign_request{*id, static_cast<std::uint32_t>(*count)};
  return finish(std::move(value), std::move(errors));
}

decoded<release_request> decode_release(const json& body,
                                        const decode_limits& limits) {
  std::vector<field_error> errors;
  object_reader reader{body, {"body"}, errors};
  auto id = read_server_id(reader);
  auto ids = reader.int_array_field("stream_ids", true,
                                    limits.max_ids_per_request);
  std::vector<stream_lease> epochs;
  const auto* object = reader.object_field("epochs");
  if (object != nullptr && object->size() > limits.max_ids_per_request) {
    reader.fail("epochs",
                "ensure this object has at most "
                  + std::to_string(limits.max_ids_per_request) + " entries",
                "value_error.dict.max_items");
    object = nullptr;
  }
  if (object != nullptr) {
    for (const auto& [key, value] : object->items()) {
      auto epoch = object_reader::as_integer(value);
      auto stream_id = parse_stream_id(key);
      if (!stream_id || !epoch || *epoch < 1) {
        errors.push_back(field_error{{"body", "epochs", key},
                                     "must map a stream id to an epoch of at "
                                     "least 1",
                                     "value_error.epoch"});
        continue;
      }
      epochs.push_back(stream_lease{*stream_id, static_cast<std::uint64_t>(*epoch)});
    }
  }
  std::optional<release_request> value;
  if (errors.empty())
    value = release_request{*id, *ids, std::move(epochs)};
  return finish(std::move(value), std::move(errors));
}

decoded<diagnostic_request> decode_diagnostic(const json& body,
                                              const decode_limits& limits) {
  std::vector<field_error> errors;
  object_reader reader{body, {"body"}, errors};
  auto id = read_server_id(reader);
  auto local = reader.int_array_field("local_streams", true,
                                      limits.max_ids_per_request);
  auto count = reader.int_field("local_stream_count", false, 0, 10'000'000);
  std::optional<diagnostic_request> value;
  if (errors.empty())
    value = diagnostic_request{
      *id, *local, count.value_or(static_cast<std::int64_t>(local->size()))};
  return finish(std::move(value), std::move(errors));
}

decoded<stream_row> decode_stream(const json& item,
                                  std::vector<std::string> loc) {
  std::vector<field_error> errors;
  if (!item.is_object()) {
    errors.push_back(field_error{loc, "value is not a valid dict",
                                 "type_error.dict"});
    return finish<stream_row>(std::nullopt, std::move(errors));
  }
  object_reader reader{item, loc, errors};
  auto id = reader.int_field("id", true, 1,
                             std::numeric_limits<std::int64_t>::max());
  auto url = reader.string_field("url", true, 4096);
  if (url && url->empty()) {
    reader.fail("url", "must not be empty", "value_error.any_str.min_length");
    url.reset();
  }
  auto name = reader.string_field("name", false, 512, "");
  json metadata = json::object();
  if (const auto* object = reader.object_field("metadata"))
    metadata = *object;
  // Descriptive columns such as city or region join the metadata, the way
  // the Python server's streams table kept them beside url and name.
  for (const auto& [key, value] : item.items())
    if (key != "id" && key != "url" && key != "name" && key != "metadata")
      metadata[key] = value;
  std::optional<stream_row> value;
  if (errors.empty())
    value = stream_row{*id, *url, *name, metadata.dump()};
  return finish(std::move(value), std::move(errors));
}

decoded<std::vector<stream_row>> decode_streams(const json& body,
                                                std::size_t max_items) {
  std::vector<field_error> errors;
  const json* items = &body;
  std::vector<std::string> base{"body"};
  if (body.is_object() && body.contains("streams")) {
    items = &body["streams"];
    base.emplace_back("streams");
  }
  std::vector<stream_row> rows;
  if (items->is_object()) {
    auto row = decode_stream(*items, base);
    if (row)
      rows.push_back(*row.value);
    errors = std::move(row.errors);
  } else if (items->is_array()) {
    if (items->size() > max_items) {
      errors.push_back(field_error{base,
                                   "ensure this list has at most "
                                     + std::to_string(max_items) + " items",
                                   "value_error.list.max_items"});
      return finish<std::vector<stream_row>>(std::nullopt, std::move(errors));
    }
    // Every bad item is reported, up to a bound that keeps the reply small.
    constexpr std::size_t max_reported = 50;
    std::set<std::int64_t> seen;
    for (std::size_t k = 0;
         errors.size() < max_reported && k < items->size(); ++k) {
      auto loc = base;
      loc.push_back(std::to_string(k));
      auto row = decode_stream((*items)[k], loc);
      errors.insert(errors.end(), row.errors.begin(), row.errors.end());
      if (!row)
        continue;
      if (!seen.insert(row.value->id).second) {
        loc.emplace_back("id");
        errors.push_back(field_error{loc, "duplicate stream id in request",
                                     "value_error.duplicate"});
        continue;
      }
      rows.push_back(*row.value);
    }
  } else {
    errors.push_back(field_error{base,
                                 "expected a stream object or a list of them",
                                 "type_error.list"});
  }
  std::optional<std::vector<stream_row>> value;
  if (errors.empty())
    value = std::move(rows);
  return finish(std::move(value), std::move(errors));
}

// -- encoding -----------------------------------------------------------------

std::string iso_time(std::int64_t wall_ms) {
  auto seconds = static_cast<std::time_t>(wall_ms / 1000);
  auto millis = static_cast<int>(wall_ms % 1000);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char buffer[40];
  auto n = std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%S", &parts);
  std::snprintf(buffer + n, sizeof(buffer) - n, ".%03d+00:00", millis);
  return buffer;
}

json to_json(const std::vector<stream_lease>& leases) {
  auto result = json::array();
  for (const auto& lease : leases)
    result.push_back({{"stream_id", lease.stream_id}, {"epoch", lease.epoch}});
  return result;
}

json to_json(const metrics_sample& sample) {
  auto load = [&](std::size_t k) -> json {
    return sample.load_average.size() == 3 ? json(sample.load_average[k])
                                           : json(nullptr);
  };
  return {{"cpu_percent", sample.cpu_percent},
          {"memory_percent", sample.memory_percent},
          {"memory_used_gb", sample.memory_used_gb},
          {"memory_total_gb", sample.memory_total_gb},
          {"disk_percent", sample.disk_percent},
          {"disk_free_gb", sample.disk_free_gb},
          {"disk_total_gb", sample.disk_total_gb},
          {"load_average_1m", load(0)},
          {"load_average_5m", load(1)},
          {"load_average_15m", load(2)},
          {"uptime_seconds", sample.uptime_seconds >= 0
                               ? json(sample.uptime_seconds)
                               : json(nullptr)},
          {"recorded_at", iso_time(sample.recorded_at_ms)}};
}

json instance_json(const worker_view& view) {
  return {{"server_id", view.row.server_id},
          {"ip", view.row.ip},
          {"port", view.row.port},
          {"max_streams", view.row.max_streams},
          {"current_streams", view.stream_count},
          {"reported_streams", view.reported_count},
          {"status", to_string(view.row.state)},
          {"draining", view.row.draining},
          {"weight", view.row.weight},
          {"revoking_streams", view.revoking.size()},
          {"incoming_streams", view.incoming.size()},
          {"reported_status", view.row.reported_status},
          {"registered_at", iso_time(view.row.registered_at_ms)},
          {"last_heartbeat", iso_time(view.row.last_heartbeat_ms)},
          {"heartbeat_age_seconds", view.heartbeat_age_ms / 1000.0}};
}

json stream_json(const stream_view& view) {
  auto metadata = json::parse(view.row.metadata, nullptr, false);
  if (metadata.is_discarded())
    metadata = json::object();
  json result = {{"id", view.row.id},
                 {"url", view.row.url},
                 {"name", view.row.name},
                 {"metadata", std::move(metadata)},
                 {"status", view.assigned ? "assigned" : "unassigned"},
                 {"server_id", nullptr},
                 {"epoch", nullptr},
                 {"assigned_at", nullptr}};
  if (view.assigned) {
    result["server_id"] = view.assignment.server_id;
    result["epoch"] = view.assignment.epoch;
    result["assigned_at"] = iso_time(view.assignment.assigned_at_ms);
  }
  return result;
}

} // namespace orchestrator

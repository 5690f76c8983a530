#include "modules/store/catalog_file.hpp"

#include "actors/errors.hpp"
#include "net/json_codec.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <set>
#include <string_view>
#include <sstream>

namespace orchestrator {

namespace {

caf::error invalid_file(const std::string& path, const std::string& what) {
  return make_error(errc::invalid_request,
                    "invalid catalogue file " + path + ": " + what);
}

std::string render(const std::vector<field_error>& errors) {
  std::string result;
  for (const auto& e : errors) {
    if (!result.empty())
      result += "; ";
    // "body" is the HTTP request's root; a file has no such level.
    std::string loc;
    for (const auto& part : e.loc)
      if (part != "body")
        loc += (loc.empty() ? "" : ".") + part;
    result += (loc.empty() ? "" : loc + ": ") + e.msg;
  }
  return result;
}

caf::expected<std::vector<stream_row>>
read_csv(const std::string& path, std::istream& in) {
  std::string line;
  if (!std::getline(in, line))
    return invalid_file(path, "the file is empty; expected a header row with "
                              "at least id and url");
  if (!line.empty() && line.back() == '\r')
    line.pop_back();
  // Spreadsheet programs start a UTF-8 CSV file with a byte order mark.
  constexpr std::string_view byte_order_mark = "\xEF\xBB\xBF";
  if (line.rfind(byte_order_mark, 0) == 0)
    line.erase(0, byte_order_mark.size());
  if (!valid_utf8(line))
    return invalid_file(path, "the header row is not valid UTF-8; save the "
                              "file as UTF-8");
  auto header = split_csv_line(line);
  // The three named columns match in any case, such as ID or Url; the
  // others become metadata keys as written.
  for (auto& name : header) {
    std::string lower;
    for (unsigned char c : name)
      lower += static_cast<char>(std::tolower(c));
    if (lower == "id" || lower == "url" || lower == "name")
      name = lower;
  }
  // A repeated column would make one value overwrite the other.
  std::set<std::string> names;
  for (const auto& name : header)
    if (!names.insert(name).second)
      return invalid_file(path, "the header row has the column '" + name
                                  + "' twice");
  for (const char* required : {"id", "url"})
    if (std::find(header.begin(), header.end(), required) == header.end())
      return invalid_file(path, std::string{"the header row lacks the '"}
                                  + required + "' column");

  std::vector<stream_row> rows;
  std::set<std::int64_t> seen;
  for (std::size_t number = 2; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.empty())
      continue;
    if (!valid_utf8(line))
      return invalid_file(path, "line " + std::to_string(number)
                                  + " is not valid UTF-8; save the file as "
                                    "UTF-8");
    auto fields = split_csv_line(line);
    if (fields.size() != header.size())
      return invalid_file(path, "line " + std::to_string(number) + " has "
                                  + std::to_string(fields.size())
                                  + " fields, the header has "
                                  + std::to_string(header.size()));
    json item = json::object();
    for (std::size_t k = 0; k < header.size(); ++k) {
      if (header[k] == "id") {
        auto value = json::parse(fields[k], nullptr, false);
        item["id"] = value.is_discarded() ? json(fields[k]) : value;
      } else {
        item[header[k]] = fields[k];
      }
    }
    auto row = decode_stream(item, {"line " + std::to_string(number)});
    if (!row)
      return invalid_file(path, render(row.errors));
    if (!seen.insert(row.value->id).second)
      return invalid_file(path, "line " + std::to_string(number)
                                  + " repeats stream id "
                                  + std::to_string(row.value->id));
    rows.push_back(std::move(*row.value));
  }
  return rows;
}

} // namespace

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t k = 0; k < line.size(); ++k) {
    char c = line[k];
    if (quoted) {
      if (c == '"' && k + 1 < line.size() && line[k + 1] == '"') {
        fields.back() += '"';
        ++k;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

caf::expected<std::vector<stream_row>>
read_catalog_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(errc::invalid_request,
                      "cannot open catalogue file " + path);
  auto is_csv = path.size() >= 4
                && path.compare(path.size() - 4, 4, ".csv") == 0;
  if (is_csv)
    return read_csv(path, in);

  std::string text{std::istreambuf_iterator<char>{in},
                   std::istreambuf_iterator<char>{}};
  auto body = parse_json(text);
  if (!body)
    return invalid_file(path, render(body.errors)
                                + " (use a .csv extension for CSV)");
  auto rows = decode_streams(*body.value,
                             std::numeric_limits<std::size_t>::max());
  if (!rows)
    return invalid_file(path, render(rows.errors));
  return std::move(*rows.value);
}

} // namespace orchestrator

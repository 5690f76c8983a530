#include <boost/test/unit_test.hpp>

#include "actors/errors.hpp"
#include "modules/store/catalog_file.hpp"
#include "tests/support/temp_dir.hpp"

#include <fstream>

using namespace orchestrator;

namespace {

std::string write(const testing::temp_dir& dir, const std::string& name,
                  const std::string& text) {
  auto path = dir.file(name);
  std::ofstream{path} << text;
  return path;
}

} // namespace

BOOST_AUTO_TEST_SUITE(catalog_file_suite)

BOOST_AUTO_TEST_CASE(csv_reads_extra_columns_as_metadata) {
  testing::temp_dir dir;
  auto path = write(dir, "c.csv",
                    "id,url,name,city\r\n"
                    "1,http://a/1,\"Radio, One\",Lyon\r\n"
                    "2,http://a/2,Two,\"Saint \"\"X\"\"\"\r\n");
  auto rows = read_catalog_file(path);
  BOOST_REQUIRE(rows);
  BOOST_REQUIRE_EQUAL(rows->size(), 2u);
  BOOST_TEST((*rows)[0].name == "Radio, One");
  BOOST_TEST((*rows)[0].metadata == R"({"city":"Lyon"})");
  BOOST_TEST((*rows)[1].metadata == R"({"city":"Saint \"X\""})");
}

BOOST_AUTO_TEST_CASE(csv_from_a_spreadsheet_is_read) {
  testing::temp_dir dir;
  // A byte order mark, capitals in the named columns and CRLF line ends,
  // as spreadsheet programs write them.
  auto path = write(dir, "excel.csv",
                    "\xEF\xBB\xBFID,URL,Name,City\r\n"
                    "1,http://a/1,One,Lyon\r\n");
  auto rows = read_catalog_file(path);
  BOOST_REQUIRE(rows);
  BOOST_REQUIRE_EQUAL(rows->size(), 1u);
  BOOST_TEST((*rows)[0].id == 1);
  BOOST_TEST((*rows)[0].url == "http://a/1");
  BOOST_TEST((*rows)[0].name == "One");
  BOOST_TEST((*rows)[0].metadata == R"({"City":"Lyon"})");
}

BOOST_AUTO_TEST_CASE(json_accepts_list_and_object) {
  testing::temp_dir dir;
  auto list = read_catalog_file(
    write(dir, "l.json", R"([{"id": 1, "url": "http://a"}])"));
  BOOST_REQUIRE(list);
  BOOST_TEST(list->size() == 1u);
  auto wrapped = read_catalog_file(write(
    dir, "w.json",
    R"({"streams": [{"id": 5, "url": "http://b", "metadata": {"k": 1}}]})"));
  BOOST_REQUIRE(wrapped);
  BOOST_TEST((*wrapped)[0].id == 5);
  BOOST_TEST((*wrapped)[0].metadata == R"({"k":1})");
}

BOOST_AUTO_TEST_CASE(invalid_files_name_the_problem) {
  testing::temp_dir dir;
  auto missing_column = read_catalog_file(write(dir, "a.csv", "id,name\n1,x\n"));
  BOOST_REQUIRE(!missing_column);
  BOOST_TEST(describe(missing_column.error()).find("'url'") != std::string::npos);

  auto bad_id = read_catalog_file(write(dir, "b.csv", "id,url\nabc,http://x\n"));
  BOOST_REQUIRE(!bad_id);
  BOOST_TEST(describe(bad_id.error()).find("line 2") != std::string::npos);

  auto duplicate = read_catalog_file(
    write(dir, "c.json", R"([{"id":1,"url":"x"},{"id":1,"url":"y"}])"));
  BOOST_REQUIRE(!duplicate);
  BOOST_TEST(describe(duplicate.error()).find("duplicate") != std::string::npos);

  auto not_json = read_catalog_file(write(dir, "d.json", "{oops"));
  BOOST_REQUIRE(!not_json);

  auto absent = read_catalog_file(dir.file("nope.json"));
  BOOST_REQUIRE(!absent);
  BOOST_TEST(describe(absent.error()).find("cannot open") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(csv_rejects_bad_text_and_repeated_columns) {
  testing::temp_dir dir;
  auto bad_byte = read_catalog_file(write(dir, "bad.csv",
                                          "id,url,name\n1,http://a/1,Caf\xe9\n"));
  BOOST_REQUIRE(!bad_byte);
  BOOST_TEST(describe(bad_byte.error()).find("line 2 is not valid UTF-8")
             != std::string::npos);
  auto repeated = read_catalog_file(write(dir, "twice.csv",
                                          "id,url,id\n1,http://a/1,2\n"));
  BOOST_REQUIRE(!repeated);
  BOOST_TEST(describe(repeated.error()).find("'id' twice") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(json_rejects_repeated_keys) {
  testing::temp_dir dir;
  auto rows = read_catalog_file(write(dir, "twice.json",
                                      R"([{"id":1,"url":"http://a/1","url":"x"}])"));
  BOOST_REQUIRE(!rows);
  BOOST_TEST(describe(rows.error()).find("\"url\" appears twice")
             != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

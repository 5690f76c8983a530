// Feeds every file of the given corpus folders to a fuzz target's
// LLVMFuzzerTestOneInput, for builds without libFuzzer. A failed check in the
// target aborts the process, which fails the test.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::vector<std::filesystem::path> corpus_files(const char* folder) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator{folder})
    if (entry.is_regular_file())
      files.push_back(entry.path());
  // Sorted, so that a failure names the same file on every run.
  std::sort(files.begin(), files.end());
  return files;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_FOLDER...\n", argv[0]);
    return 2;
  }
  std::size_t replayed = 0;
  for (int k = 1; k < argc; ++k) {
    std::error_code ec;
    if (!std::filesystem::is_directory(argv[k], ec)) {
      std::fprintf(stderr, "error: corpus folder %s not found\n", argv[k]);
      return 2;
    }
    for (const auto& file : corpus_files(argv[k])) {
      std::ifstream in{file, std::ios::binary};
      std::vector<char> bytes{std::istreambuf_iterator<char>{in},
                              std::istreambuf_iterator<char>{}};
      std::fprintf(stderr, "replaying %s (%zu bytes)\n", file.c_str(),
                   bytes.size());
      LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                             bytes.size());
      ++replayed;
    }
  }
  if (replayed == 0) {
    std::fprintf(stderr, "error: the corpus folders contain no files\n");
    return 1;
  }
  std::printf("replayed %zu inputs without a failure\n", replayed);
  return 0;
}

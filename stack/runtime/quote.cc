#include "stack/runtime/quote.h"

#include "fmt/format.h"

namespace netshim {

void AppendEscaped(std::string& out, std::string_view value) {
  for (const unsigned char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
}

}  // namespace netshim

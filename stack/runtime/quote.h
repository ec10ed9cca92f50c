// Quoting untrusted values for one-line error messages.
#pragma once

#include <string>
#include <string_view>

namespace netshim {

// Appends `value` with `"` and `\` escaped and everything outside printable ASCII (newlines
// included, so a message stays on one line) written as \xNN.
void AppendEscaped(std::string& out, std::string_view value);

}  // namespace netshim

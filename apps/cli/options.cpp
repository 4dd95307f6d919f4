#include "options.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "kprcnn/error.h"

namespace kprcnn::cli {

void add_options(CLI::App* app, Options& target, std::initializer_list<OptionGroup> groups,
                 std::initializer_list<std::string_view> except, std::string_view help_prefix) {
  for (const OptionInfo& info : option_list()) {
    if (std::find(groups.begin(), groups.end(), info.group) == groups.end()) continue;
    if (std::find(except.begin(), except.end(), info.name) != except.end()) continue;
    std::string flag = "--" + info.name;
    std::replace(flag.begin(), flag.end(), '_', '-');
    if (info.short_flag) flag = std::string("-") + info.short_flag + "," + flag;
    std::string help = std::string(help_prefix) + info.help;
    if (help_prefix.empty() && !help.empty()) help[0] = static_cast<char>(std::toupper(help[0]));
    const std::string name = info.name;
    auto apply = [&target, name](const std::string& value) {
      try {
        set_option(target, name, value);
      } catch (const Error& e) {
        // A bad value is a usage error (exit 2); an unknown engine/provider name keeps its own code
        // (kEngineUnavailable, exit 5), as when a library caller passes it.
        if (e.code() != ErrorCode::kInvalidArgument) throw;
        throw CLI::ValidationError(e.what());
      }
    };
    if (info.type == OptionType::kBool) {
      // A yes/no option is a flag that turns it on, or for one that is on by default --no-<name> turning it off
      // (no_cache is already named for its flag).
      if (info.default_value == "1") {
        std::string off = "--no-" + info.name;
        std::replace(off.begin(), off.end(), '_', '-');
        app->add_flag_callback(
            off, [apply] { apply("0"); }, "Turn off: " + help);
      } else {
        app->add_flag_callback(
            flag, [apply] { apply("1"); }, help);
      }
      continue;
    }
    CLI::Option* option = app->add_option_function<std::string>(flag, apply, help);
    if (!info.default_value.empty()) option->default_str(info.default_value);
    switch (info.type) {
      case OptionType::kFloat: option->type_name("FLOAT"); break;
      case OptionType::kInt: option->type_name("INT"); break;
      case OptionType::kPath: option->type_name("PATH"); break;
      default: option->type_name("TEXT"); break;
    }
  }
}

}  // namespace kprcnn::cli

#include "client/cli_app.h"

#include <string>

#include "CLI/CLI.hpp"
#include "client/commands.h"
#include "client/exit_codes.h"

namespace condense::client {

int RunCli(int argc, const char* const* argv, const CliIo& io) {
  CLI::App app{
      "condense: compress neural networks (pruning, trained quantization, "
      "Huffman coding) on a condense server",
      "condense"};
  app.footer(
      "Environment: CONDENSE_ADDR, CONDENSE_TOKEN, CONDENSE_TLS_CA, "
      "CONDENSE_TLS_CERT, CONDENSE_TLS_KEY\n\n" +
      ExitCodesHelp());
  app.require_subcommand(1);
  // Global flags may also follow the subcommand (condense status X --output
  // json); subcommands created below inherit this.
  app.fallthrough();

  CommandEnv env;
  env.io = io;
  app.add_option("--addr", env.connection.address,
                 "server host:port (default: $CONDENSE_ADDR, else "
                 "127.0.0.1:7350)");
  app.add_option("--token", env.connection.token,
                 "bearer token (default: $CONDENSE_TOKEN)");
  app.add_option("--tls-ca", env.connection.tls_ca,
                 "PEM file of the CA that signed the server's certificate "
                 "(default: $CONDENSE_TLS_CA; none: plaintext)");
  app.add_option("--tls-cert", env.connection.tls_cert,
                 "client certificate for mutual TLS (PEM; default: "
                 "$CONDENSE_TLS_CERT)");
  app.add_option("--tls-key", env.connection.tls_key,
                 "client key for mutual TLS (PEM; default: $CONDENSE_TLS_KEY)");
  app.add_option("--output", env.output,
                 "text, or json for machine-readable output")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();

  CommandAction action;
  AddUploadCommand(&app, &env, &action);
  AddSubmitCommand(&app, &env, &action);
  AddWatchCommand(&app, &env, &action);
  AddStatusCommand(&app, &env, &action);
  AddListCommand(&app, &env, &action);
  AddCancelCommand(&app, &env, &action);
  AddDownloadCommand(&app, &env, &action);
  AddInspectCommand(&app, &env, &action);
  AddDecompressCommand(&app, &env, &action);
  AddHealthCommand(&app, &env, &action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints help and errors itself; route them to our streams.
    const int code = app.exit(e, *io.out, *io.err);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (!action) return kExitUsage;
  return action();
}

}  // namespace condense::client

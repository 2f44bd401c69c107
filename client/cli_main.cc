// condense: the command-line client. Everything but the process's streams
// lives in client/cli_app.cc.
#include <sys/ioctl.h>
#include <unistd.h>

#include <exception>
#include <iostream>

#include "client/cli_app.h"
#include "client/exit_codes.h"

int main(int argc, char** argv) {
  condense::client::CliIo io;
  io.out = &std::cout;
  io.err = &std::cerr;
  io.out_is_terminal = isatty(STDOUT_FILENO) == 1;
  io.err_is_terminal = isatty(STDERR_FILENO) == 1;
  winsize size{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
    io.terminal_width = size.ws_col;
  }
  try {
    return condense::client::RunCli(argc, argv, io);
  } catch (const std::exception& e) {
    std::cerr << "condense: " << e.what() << "\n";
    return condense::client::kExitError;
  }
}

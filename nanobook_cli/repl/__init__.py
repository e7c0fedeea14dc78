"""The interactive order book behind `nanobook repl`, imported lazily by the command.

parse (text → commands) · session (commands → engine) · render (results → text) · shell (terminal or pipe).
"""

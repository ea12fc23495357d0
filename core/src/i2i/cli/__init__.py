"""Thin command line: parse arguments, call the library, print. Exit 0 done, 2 bad input, 1 bug."""

// Package mutate measures what the suite's specs would miss in a kernel
// source file: it makes mutants of C source lines by fixed one-line rules
// (an if condition dropped, one operand of || or && dropped, a comparison
// moved by one, a returned errno swapped, an unused call deleted, an
// assignment's right side set to 0), builds each mutant incrementally in a
// hard-linked copy of the tree with its own build directory in the cache
// (never the user's tree nor the cached pristine source), runs the suite
// on it under a deadline and records whether a spec killed it.
//
// The generator is line based, not a C parser: it only mutates lines it
// can read on their own (balanced parentheses, one statement) and leaves
// comments, preprocessor lines and declarations alone. Results are kept
// per mutant in the cache, keyed by the mutated file's content and the
// change, so an interrupted run resumes where it stopped.
package mutate

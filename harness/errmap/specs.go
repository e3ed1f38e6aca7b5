package errmap

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
)

// A spec's full text is Ginkgo's: the texts of its containers and its own
// text joined by single spaces.

var (
	containers = map[string]bool{"Describe": true, "Context": true, "When": true, "DescribeTable": true,
		"FDescribe": true, "FContext": true, "FWhen": true, "FDescribeTable": true}
	leaves = map[string]bool{"It": true, "Specify": true, "Entry": true, "FIt": true, "FSpecify": true, "FEntry": true}
)

// SpecText is one spec's full text and where its leaf text is.
type SpecText struct {
	Full  string
	Parts []string // the container texts, then the It or Entry text
	Table string   // for an Entry: the full text of its DescribeTable
	Pos   string   // file:line
}

// SpecTexts returns the full texts of the specs in the Go files of dir
// whose container and leaf texts are string literals (an Entry described
// by an expression is left out).
func SpecTexts(dir string) ([]SpecText, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var out []SpecText
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		collect(fset, af, nil, "", &out)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("errmap: no specs in %s", dir)
	}
	return out, nil
}

// collect walks n, appending every leaf under the container texts in;
// table is the full text of the DescribeTable n is in, if any.
func collect(fset *token.FileSet, n ast.Node, in []string, table string, out *[]SpecText) {
	ast.Inspect(n, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		id, ok := call.Fun.(*ast.Ident)
		if !ok || len(call.Args) == 0 || !(containers[id.Name] || leaves[id.Name]) {
			return true
		}
		text, ok := literal(call.Args[0])
		if !ok {
			return true
		}
		path := append(append([]string(nil), in...), text)
		if leaves[id.Name] {
			st := SpecText{Full: strings.Join(path, " "), Parts: path, Pos: fset.Position(call.Pos()).String()}
			if strings.HasSuffix(id.Name, "Entry") {
				st.Table = table
			}
			*out = append(*out, st)
			return false
		}
		inTable := table
		if strings.HasSuffix(id.Name, "DescribeTable") {
			inTable = strings.Join(path, " ")
		}
		for _, a := range call.Args[1:] {
			collect(fset, a, path, inTable, out)
		}
		return false
	})
}

// literal is the value of a string literal expression.
func literal(e ast.Expr) (string, bool) {
	bl, ok := e.(*ast.BasicLit)
	if !ok || bl.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(bl.Value)
	return s, err == nil
}

// FindSpec returns a spec whose full text starts with prefix, where the
// prefix reaches into the spec's own It or Entry text, or covers the whole
// text of its table (Describe, then DescribeTable): a
// Describe's text alone names no spec. Several matches are fine (a table
// names all its entries); the first is returned.
func FindSpec(specs []SpecText, prefix string) (SpecText, bool) {
	for _, s := range specs {
		if !strings.HasPrefix(s.Full, prefix) {
			continue
		}
		leaf := s.Parts[len(s.Parts)-1]
		intoLeaf := len(prefix) > len(s.Full)-len(leaf)
		wholeTable := s.Table != "" && len(prefix) >= len(s.Table)
		if intoLeaf || wholeTable {
			return s, true
		}
	}
	return SpecText{}, false
}

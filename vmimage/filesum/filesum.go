// Package filesum gives the sha256 of a file's content, as the lowercase
// hex string zcsuite records in kernel.json and in cache file names. It
// needs nothing but the file.
package filesum

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
)

// SHA256 returns the hex sha256 of the file at path. An error is the
// open's or the read's, unwrapped (errors.Is(err, fs.ErrNotExist) works).
func SHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

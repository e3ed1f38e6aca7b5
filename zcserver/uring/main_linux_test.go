package uring_test

import (
	"testing"

	"github.com/zcsuite/zcsuite/zcserver/uring/uringtest"
)

func TestMain(m *testing.M) { uringtest.RunWithFDCheck(m) }

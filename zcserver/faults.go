package zcserver

import (
	"fmt"

	"github.com/zcsuite/zcsuite/zcserver/knobs"
)

// FaultKnobs are fault injections that make the server break the FUSE
// io_uring protocol on purpose; every field is off at its zero value. The
// fields are documented on knobs.Faults, and package knobs is the one
// seam where they act.
type FaultKnobs = knobs.Faults

// PersonalityKnob selects FaultKnobs.Personality.
type PersonalityKnob = knobs.Personality

// Personality knob values (knobs.PersonalityOff, ...).
const (
	PersonalityOff     = knobs.PersonalityOff
	PersonalityCapable = knobs.PersonalityCapable
	PersonalityDropped = knobs.PersonalityDropped
)

// HoldRule holds the Nth request of an opcode (knobs.HoldRule).
type HoldRule = knobs.HoldRule

// HeldRequest is a request kept by a FaultKnobs.Hold rule
// (knobs.HeldRequest).
type HeldRequest = knobs.HeldRequest

// validateKnobs checks k, including the knobs bound to a mode.
func validateKnobs(k *FaultKnobs, m Mode) error {
	if err := k.Validate(); err != nil {
		return err
	}
	if k.ZeroCopyIndex != nil && m != ModeRingZeroCopy {
		return fmt.Errorf("ZeroCopyIndex needs %s, mode is %s", ModeRingZeroCopy, m)
	}
	if k.ProbeSlotAfterCommit && m != ModeRingZeroCopy {
		return fmt.Errorf("ProbeSlotAfterCommit needs %s, mode is %s", ModeRingZeroCopy, m)
	}
	if k.PoolIndex != nil && m != ModeRingPoolRegistered {
		return fmt.Errorf("PoolIndex needs %s, mode is %s", ModeRingPoolRegistered, m)
	}
	return nil
}

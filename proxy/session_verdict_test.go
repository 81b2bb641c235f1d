package proxy

import "testing"

// TestDecide is the whole table of what each mode does about each offence,
// whether or not the session can follow the conversation after it.
func TestDecide(t *testing.T) {
	type row struct {
		o                     offence
		lost                  bool
		kill, reject, monitor action
	}
	K, R, D, F, P, E := actionKilled, actionRejected, actionDropped, actionForwarded, actionReported, actionEnded
	rows := []row{
		{illegalRequest, false, K, R, F},
		{illegalRequest, true, K, R, F},
		{illegalMessage, false, K, D, F},
		{illegalMessage, true, K, D, F},
		{illegalReply, false, K, R, F},
		{illegalReply, true, K, K, F},
		{illegalPipelined, false, K, F, F},
		{illegalPipelined, true, K, K, F},
		{selfReported, false, F, F, F},
		{selfReported, true, F, F, F},
		{brokenStream, false, K, K, E},
		{brokenStream, true, K, K, E},
		{lateReply, false, K, K, P},
		{lateReply, true, K, K, P},
	}
	for _, r := range rows {
		for m, want := range map[Mode]action{Kill: r.kill, Reject: r.reject, Monitor: r.monitor} {
			if got := decide(m, r.o, r.lost); got != want {
				t.Errorf("decide(%s, offence %d, lost %v) = %s, want %s", m, r.o, r.lost, got, want)
			}
		}
	}
}

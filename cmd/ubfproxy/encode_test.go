package main

import "testing"

func TestEncodeGolden(t *testing.T) {
	runCodecGolden(t, "encode", []codecCase{
		{"ubf_terms", "terms.txt", []string{"--wire", "ubf"}},
		{"json_terms", "terms.txt", []string{"--wire", "json"}},
		{"json_map", "json_map.txt", []string{"--wire", "json"}},
		{"ubf_map", "map.txt", []string{"--wire", "ubf"}},
		{"ubf_float", "float.txt", []string{"--wire", "ubf"}},
		{"json_key", "json_key.txt", []string{"--wire", "json"}},
		{"syntax", "syntax.txt", []string{"--wire", "ubf"}},
		{"ubf_trace", "trace.txt", []string{"--wire", "ubf"}},
		{"json_trace", "trace.txt", []string{"--wire", "json"}},
		{"unknown_wire", "terms.txt", []string{"--wire", "xml"}},
		{"pop3_trace", "pop3_trace.txt", []string{"--wire", "pop3"}},
		{"irc_terms", "irc_terms.txt", []string{"--wire", "irc"}},
		{"memcached_server", "memcached_server.txt", []string{"--wire", "memcached", "--side", "server"}},
		{"resp_trace", "resp_trace.txt", []string{"--wire", "resp"}},
		{"resp_server", "resp_server.txt", []string{"--wire", "resp", "--side", "server"}},
		{"resp_client_bad", "resp_server.txt", []string{"--wire", "resp", "--side", "client"}},
	})
}

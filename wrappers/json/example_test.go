package json_test

import (
	"fmt"
	"strings"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/json"
)

func ExampleSession() {
	s := json.NewSession(wrappers.Options{})
	client := s.ClientDecoder(strings.NewReader(`{"$T": [{"$A": "open"}, "foo.dat", {"$A": "read"}]}` + "\r\n\n" +
		`{"$E": "ping"}` + "\n" + `[18446744073709551616, 1.5]` + "\n"))
	for {
		m, err := client.Next()
		if err != nil {
			break
		}
		fmt.Println(m.Kind, m.Term)
	}
	fmt.Print(string(s.ErrorReply(wrappers.Violation{Side: wrappers.Client, Message: term.Atom("bad"), States: []string{"start"},
		Expected: []string{"{open, string(), read | write}"}, Explanation: "no rule of start takes bad"})))
	// Output:
	// call {open, "foo.dat", read}
	// filler <nil>
	// event "ping"
	// call [18446744073709551616, 1.5]
	// {"error":"clientBrokeContract","message":{"$A":"bad"},"expected":["{open, string(), read | write}"],"state":"start","explanation":"no rule of start takes bad"}
}

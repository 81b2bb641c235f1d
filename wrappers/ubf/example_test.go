package ubf_test

import (
	"fmt"
	"io"
	"strings"

	"github.com/ubfproxy/ubfproxy/term"
	"github.com/ubfproxy/ubfproxy/wrappers"
	"github.com/ubfproxy/ubfproxy/wrappers/ubf"
)

// A decoder reads frames off a stream; each comes with the bytes it was
// made of.
func ExampleDecoder() {
	in := "'person'>p # {p \"Joe\" 123} & {p 'fred' 3~abc~} & $\n'ok'>!{{!,!},'start'}$\n"
	d := ubf.NewDecoder(strings.NewReader(in), wrappers.Limits{})
	for {
		t, raw, err := d.Frame()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s  (%d bytes)\n", t, len(raw))
	}
	// Output:
	// [{person, fred, <<"abc">>}, {person, "Joe", 123}]  (51 bytes)
	// {{ok, ok}, start}  (23 bytes)
}

func ExampleAppendEncode() {
	b, err := ubf.AppendEncode(nil, term.MustParse(`{person, "Joe", 123, <<"abc">>, [a, b]}`))
	fmt.Println(string(b), err)
	// Output: {'person',"Joe",123,3~abc~,#'b'&'a'&}$ <nil>
}

// The session of a connection classifies what each side sends as UBF(C)
// messages.
func ExampleSession() {
	s := ubf.NewSession(wrappers.Options{})
	server := s.ServerDecoder(strings.NewReader("{'ubf1.0',\"file\",\"help\"}$\n{{'ok',7},'ready'}$\n{'event_out','tick'}$\n"))
	for {
		m, err := server.Next()
		if err != nil {
			break
		}
		if m.NextState != "" {
			fmt.Println(m.Kind, m.Term, "next state", m.NextState)
		} else {
			fmt.Println(m.Kind, m.Term)
		}
	}
	fmt.Print(string(s.ErrorReply(wrappers.Violation{Side: wrappers.Client, Message: term.Atom("bad"), States: []string{"ready"}, Expected: []string{"{read, integer()}"}})))
	// Output:
	// greeting {'ubf1.0', "file", "help"}
	// reply {ok, 7} next state ready
	// event tick
	// {{'clientBrokeContract','bad',#"{read, integer()}"&},'ready'}$
}

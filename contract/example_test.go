package contract_test

import (
	"fmt"
	"os"

	"github.com/ubfproxy/ubfproxy/contract"
)

func ExampleCompile() {
	src := []byte(`+state start x {open, string()} -> {ok, integer()} x runing | {error, string()} x stop.
+state running x close -> ok x stop.
`)
	c, diags := contract.Compile("file.con", src, contract.Options{})
	fmt.Println(c == nil)
	for _, d := range diags {
		fmt.Println(d.Error())
	}
	// Output:
	// true
	// file.con:1:54: error: state "runing" is not defined (did you mean running?)
}

func ExampleFormat() {
	out, _ := contract.Format("f.con", []byte("+state start x {a,b}->ok x stop|error x start. % one rule\n"))
	fmt.Print(string(out))
	// Output:
	// +state start x {a, b} ->
	//       ok x stop
	//     | error x start.  % one rule
}

func ExampleWriteMermaid() {
	c, _ := contract.Compile("door.con", []byte("+state closed x open -> ok x opened.\n+state opened x close -> ok x closed | locked x stop.\n"), contract.Options{})
	_ = contract.WriteMermaid(os.Stdout, c)
	// Output:
	// stateDiagram-v2
	//     [*] --> closed
	//     closed --> opened : open / ok
	//     opened --> closed : close / ok
	//     opened --> stop : close / locked
	//     stop --> [*]
}

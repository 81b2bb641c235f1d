package contract

// Code identifies the kind of a finding. Codes are stable: editors, CI
// configurations and SARIF viewers filter on them.
type Code string

// The codes of the compiler's findings. Codes lists them with their
// documentation.
const (
	CodeSyntax               Code = "syntax"
	CodeImport               Code = "import"
	CodeDuplicateType        Code = "duplicate-type"
	CodeDuplicateState       Code = "duplicate-state"
	CodeDuplicateField       Code = "duplicate-field"
	CodeDuplicateDeclaration Code = "duplicate-declaration"
	CodeUnknownType          Code = "unknown-type"
	CodeUnknownState         Code = "unknown-state"
	CodeRedefinedBuiltin     Code = "redefined-builtin"
	CodeBadAttribute         Code = "bad-attribute"
	CodeEmptyRange           Code = "empty-range"
	CodeBadDefault           Code = "bad-default"
	CodeUninhabitedType      Code = "uninhabited-type"
	CodeBadTail              Code = "bad-tail"
	CodeBadPattern           Code = "bad-pattern"
	CodeUnboundVariable      Code = "unbound-variable"
	CodeDuplicateRule        Code = "duplicate-rule"

	CodeUnusedType       Code = "unused-type"
	CodeUnreachableState Code = "unreachable-state"
	CodeNoTerminalPath   Code = "no-terminal-path"
	CodeOverlappingRules Code = "overlapping-rules"
	CodeAmbiguousReply   Code = "ambiguous-reply"
	CodeDeadEvent        Code = "dead-event"

	CodeUnusedVariable      Code = "unused-variable"
	CodeAmbiguousTransition Code = "ambiguous-transition"
	CodeNoStates            Code = "no-states"
	CodeUnusedSuppression   Code = "unused-suppression"

	// Findings of "ubfproxy breaking" (CodeInfo.Command "breaking").
	CodeBreaksClientRequest  Code = "breaks-client-request"
	CodeBreaksClientReply    Code = "breaks-client-reply"
	CodeBreaksServiceRequest Code = "breaks-service-request"
	CodeBreaksServiceReply   Code = "breaks-service-reply"
	CodeMayBreak             Code = "may-break"
)

// CodeInfo documents a code: the severity of its findings, what they mean
// and what to do about them.
type CodeInfo struct {
	Code     Code
	Severity Severity
	Short    string // one sentence: what the finding says
	Help     string // how to resolve it
}

// Command is the command that reports the code: "check" for the
// compiler's findings, "breaking" for those of the comparison of two
// contracts.
func (ci CodeInfo) Command() string {
	switch ci.Code {
	case CodeBreaksClientRequest, CodeBreaksClientReply, CodeBreaksServiceRequest, CodeBreaksServiceReply, CodeMayBreak:
		return "breaking"
	}
	return "check"
}

// codeTable is the one table of codes; the compiler takes a finding's severity
// from it, and check's SARIF output its rule metadata.
var codeTable = [...]CodeInfo{
	{CodeSyntax, Error,
		"The contract is not well formed: a token, literal or declaration is malformed or out of place.",
		"Fix the text at the position given; the message names what was found and what the language expects there."},
	{CodeImport, Error,
		"A --types file or a +import declaration names a file that cannot be read.",
		"Check the path: +import paths are relative to the importing file; make the file exist and readable."},
	{CodeDuplicateType, Error,
		"A named type is defined twice, or imported twice with different definitions.",
		"Rename one of the types or remove the second definition; an imported type may be repeated only with the same definition."},
	{CodeDuplicateState, Error,
		"A state has a second +STATE section, or the built-in stop state is given rules or events.",
		"Merge the rules of the state into one section; stop is terminal and cannot have rules or events."},
	{CodeDuplicateField, Error,
		"A record field or a map key is given twice in one type.",
		"Remove or rename the repeated field or key."},
	{CodeDuplicateDeclaration, Error,
		"A +name or +vsn declaration is given twice.",
		"Keep one +name and one +vsn per contract."},
	{CodeUnknownType, Error,
		"A type is used but not defined, imported or built in.",
		"Define the type with +deftype (or in a TYPES section), import it, or correct the name as suggested."},
	{CodeUnknownState, Error,
		"A rule leads to a state that is not defined, or --initial names no state.",
		"Add rules for the state, lead to stop to end the conversation, or correct the name as suggested."},
	{CodeRedefinedBuiltin, Error,
		"A contract defines a type whose name is predefined or built in, with another meaning.",
		"Use the built-in type, or give the contract's type another name."},
	{CodeBadAttribute, Error,
		"A type is given an attribute it does not take.",
		"Use an attribute the predefined type accepts (such as atom(ascii) or binary(nonempty)); named types take none."},
	{CodeEmptyRange, Error,
		"An integer range or list length bounds can match nothing, or a list length is malformed.",
		"Write the smaller bound first and give lengths as non-negative decimal integers: {n}, {n,}, {,m} or {n,m}."},
	{CodeBadDefault, Error,
		"A record field's default is not a constant.",
		"Give the default as an atom, number, string, binary, [] or a tuple of constants."},
	{CodeUninhabitedType, Error,
		"A type matches no term: it is defined only in terms of itself.",
		"Give the type an alternative that does not refer back to it, such as an atom or the empty list."},
	{CodeBadTail, Error,
		"A tuple's tail ..L is not the tuple's last element, or L is not a list type.",
		"Write the tail last, alone, as a list type: {del, ..[key()]+} or {mget, ..[key()]{1,8}}."},
	{CodeBadPattern, Error,
		"The regular expression of a pattern(\"RE\") attribute does not compile.",
		"Write the pattern in the syntax of Go's regexp (RE2): no back-references or look-arounds; a backslash escapes as in that syntax."},
	{CodeUnboundVariable, Error,
		"A variable is used but bound nowhere in the contract, so it can never match.",
		"Bind the variable where its value first appears, as {ok, H = fileHandle()}, or correct its name."},
	{CodeDuplicateRule, Error,
		"A rule repeats another rule of the same state exactly: the same request, the same replies, the same next states.",
		"Remove one of the two rules; if they were meant to differ, correct the one that is wrong."},
	{CodeUnusedType, Warning,
		"A type of the contract is defined but no rule or event uses it.",
		"Remove the type, or use it; types meant for other contracts belong in a file without rules (a type library)."},
	{CodeUnreachableState, Warning,
		"No sequence of rules leads from the initial state to this state.",
		"Add a rule whose reply leads to the state, or remove the state."},
	{CodeNoTerminalPath, Warning,
		"From this state no terminal state can be reached: the conversation can never end by the contract.",
		"Add a rule whose reply leads to stop or to another terminal state."},
	{CodeOverlappingRules, Warning,
		"Two rules of one state (or two anystate rules) accept a common request.",
		"Make the request types disjoint, or merge the rules; a request matching both is checked against both."},
	{CodeAmbiguousReply, Warning,
		"Two replies of one rule can match one term but lead to different states.",
		"Make the reply types disjoint so that each reply determines the next state."},
	{CodeDeadEvent, Warning,
		"An event is declared only in states the initial state never leads to.",
		"Declare the event in a reachable state, or make its states reachable."},
	{CodeUnusedVariable, Warning,
		"A variable is bound but never used: the binding has no effect.",
		"Use the variable where the value must come back, or drop the binding (write the type alone)."},
	{CodeAmbiguousTransition, Warning,
		"In one state, a message can match a call and an in transition, a reply and an out transition, or two transitions leading to different states.",
		"Make the types disjoint; otherwise the call (for a client message) or the reply (for a server message) wins, and two transitions leave the session in both states."},
	{CodeNoStates, Warning,
		"The contract defines no states, rules, events or types: it allows no conversation.",
		"Add +state rules (or +anystate rules for a stateless service), or remove the file."},
	{CodeUnusedSuppression, Warning,
		"A % ubfproxy:ignore comment suppresses nothing: the line after it has no finding of that code, or the comment is malformed.",
		"Remove the comment, or correct it: % ubfproxy:ignore CODE: reason, on the line before the finding, naming a warning's code."},
	{CodeBreaksClientRequest, Error,
		"A client message the old contract accepts in this conversation is refused by the new one: old clients that send it break.",
		"Accept the message again in the new contract (widen the request type, restore the rule or the state), or version the protocol."},
	{CodeBreaksClientReply, Error,
		"The new contract lets the service send a reply or message that the old contract does not allow there: old clients do not expect it.",
		"Narrow the new reply type to what the old contract allowed, or version the protocol so that old clients are not served by the new service."},
	{CodeBreaksServiceRequest, Warning,
		"The new contract accepts a client message that the old contract refused there: a service written to the old contract never had to handle it.",
		"Make sure the service handles the new message before the new contract is enforced in front of it; this is how a protocol grows, hence a warning."},
	{CodeBreaksServiceReply, Warning,
		"A reply or message the old contract let the service send is refused by the new contract: an old service behind the new contract breaks it.",
		"Keep allowing the old reply in the new contract, or update the service before the new contract is enforced in front of it."},
	{CodeMayBreak, Warning,
		"Whether every message of one contract's type is allowed by the other could not be decided (two different patterns), and no sample message showed a difference.",
		"Check the two types by hand; if the new pattern accepts everything the old one did, suppress the finding with breaking --disable may-break."},
}

// Codes returns the documentation of every code, errors first, in a fixed
// order; those of breaking come last.
func Codes() []CodeInfo {
	return append([]CodeInfo(nil), codeTable[:]...)
}

// Info returns the documentation of c; ok is false for a code the compiler
// does not report.
func (c Code) Info() (info CodeInfo, ok bool) {
	for _, ci := range codeTable {
		if ci.Code == c {
			return ci, true
		}
	}
	return CodeInfo{}, false
}

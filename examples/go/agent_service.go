// A small agent service on pg_rollout, with pgx v4 (Debian:
// golang-github-jackc-pgx-v4-dev).
//
// Per request: one query asks the database which version of the agent
// serves this user (rollout.route), the service runs that version (prompt,
// model, tools), and one query records the outcome (rollout.record) with the
// decision_token route() returned, so the outcome counts for the rollout,
// stage and arm that served it even if the rollout moved meanwhile. When
// the decision names a shadow version, the service also runs it, discards
// its answer, intercepts its writes if told to, and records it as a shadow
// outcome.
//
// Connection: libpq's environment (PGHOST, PGPORT, PGUSER, PGDATABASE, ...)
// or DATABASE_URL; the login must be a member of rollout_service.
// PG_ROLLOUT_POOLER=transaction uses the simple protocol instead of
// prepared statements, for pgbouncer in transaction pooling mode before 1.21.
//
// Build with Debian's packages (GOPATH mode, offline):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o agent_service agent_service.go
//
// Usage: agent_service AGENT REQUESTS
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v4"
)

const routeSQL = `SELECT version, arm, model, system_prompt, tools, params, shadow_version,
       write_intercept, judge_sample, pin, reason, decision_token
  FROM rollout.route($1, $2, session => $3, pin => $4)`

// decision_token: the outcome counts for the decision that served the request.
const recordSQL = `SELECT rollout.record($1, $2, $3, success => $4, quality => $5,
       latency_ms => $6, error => $7, shadow => $8, decision_token => $9)`

const versionSQL = `SELECT model, system_prompt, tools, params FROM rollout.get_version($1, $2)`

// decision is the part of rollout.decision this service uses.
type decision struct {
	Version        int32
	Arm            *string
	Model          string
	SystemPrompt   string
	Tools          []byte
	Params         []byte
	ShadowVersion  *int32
	WriteIntercept *bool
	JudgeSample    *bool
	Pin            *string
	Reason         *string
	DecisionToken  *string
}

// outcome is what a model call produced.
type outcome struct {
	Answer    string
	Success   bool
	Error     bool
	LatencyMs float64
}

// callModel stands in for the LLM call and its tool calls. A real service
// sends systemPrompt and the request to model with tools; with dryRunWrites
// the write tools must not touch anything (shadow runs).
func callModel(model, systemPrompt string, tools, params []byte, request string, dryRunWrites bool) outcome {
	started := time.Now()
	ok := rand.Float64() < 0.9
	o := outcome{Success: ok, LatencyMs: float64(time.Since(started).Microseconds())/1000 + 200 + rand.Float64()*700}
	if ok {
		o.Answer = "..."
	}
	return o
}

// judge stands in for the LLM judge that scores sampled answers (0..1).
func judge(answer string) float64 {
	if answer != "" {
		return 0.6 + rand.Float64()*0.4
	}
	return rand.Float64() * 0.4
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: agent_service AGENT REQUESTS")
		os.Exit(2)
	}
	agent := os.Args[1]
	n, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "REQUESTS must be a number")
		os.Exit(2)
	}
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(os.Getenv("DATABASE_URL"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pooled := os.Getenv("PG_ROLLOUT_POOLER") == "transaction"
	if pooled {
		// pgbouncer in transaction mode moves us between server connections:
		// no named prepared statements.
		cfg.PreferSimpleProtocol = true
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer conn.Close(ctx)
	route, record := routeSQL, recordSQL
	if !pooled {
		// Prepared once, reused for every request.
		if _, err := conn.Prepare(ctx, "route", routeSQL); err != nil {
			fail(err)
		}
		if _, err := conn.Prepare(ctx, "record", recordSQL); err != nil {
			fail(err)
		}
		route, record = "route", "record"
	}

	pins := map[string]string{}
	for i := 0; i < n; i++ {
		unit := fmt.Sprintf("user-%d", i%97)
		session := fmt.Sprintf("%s/conversation-%d", unit, i%3) // a user's conversations
		request := fmt.Sprintf("request %d", i)
		var pin *string
		if p, ok := pins[session]; ok {
			pin = &p
		}
		var d decision
		if err := conn.QueryRow(ctx, route, agent, unit, session, pin).Scan(&d.Version, &d.Arm, &d.Model,
			&d.SystemPrompt, &d.Tools, &d.Params, &d.ShadowVersion, &d.WriteIntercept, &d.JudgeSample,
			&d.Pin, &d.Reason, &d.DecisionToken); err != nil {
			fail(err)
		}
		if d.Pin != nil {
			pins[session] = *d.Pin // the next turn of this session keeps its version
		}

		out := callModel(d.Model, d.SystemPrompt, d.Tools, d.Params, request, false)
		var quality *float64
		if d.JudgeSample != nil && *d.JudgeSample {
			q := judge(out.Answer)
			quality = &q
		}
		if _, err := conn.Exec(ctx, record, agent, d.Version, unit, out.Success, quality,
			out.LatencyMs, out.Error, false, d.DecisionToken); err != nil {
			fail(err)
		}

		if d.ShadowVersion != nil {
			// Run the shadow version on the same request; its answer is discarded.
			var model, prompt string
			var tools, params []byte
			if err := conn.QueryRow(ctx, versionSQL, agent, strconv.Itoa(int(*d.ShadowVersion))).Scan(
				&model, &prompt, &tools, &params); err != nil {
				fail(err)
			}
			dry := d.WriteIntercept == nil || *d.WriteIntercept
			s := callModel(model, prompt, tools, params, request, dry)
			if _, err := conn.Exec(ctx, record, agent, *d.ShadowVersion, unit, s.Success, nil,
				s.LatencyMs, s.Error, true, d.DecisionToken); err != nil {
				fail(err)
			}
		}
	}
	summary, _ := json.Marshal(map[string]interface{}{"client": "go", "agent": agent, "requests": n})
	fmt.Println(string(summary))
}

// fail prints a database error and exits.
func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

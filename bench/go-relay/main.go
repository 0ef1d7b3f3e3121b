// A Go peer for the benchmarks: the standard library's reverse proxy (net/http/httputil) doing the
// job nginx and the bare Node relay do there, relaying every request to the tool and injecting the
// Basic credential, nothing else. It is what a Go implementation of the same hop gets on the same
// core: the bench runs it as one process with GOMAXPROCS=1, as nginx runs one worker and Node one
// event loop. Over HTTPS it stands beside /proxy, over plain HTTP beside the Connectors Proxy.
// HTTP/2 is off on both sides, as on nginx's and ours, so every row speaks HTTP/1.1.
//
//	BENCH_TOOL_AUTHORIZATION='Basic …' GOMAXPROCS=1 go-relay <port> <tool url> [<cert.pem> <key.pem>]
package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"time"
)

func main() {
	args := os.Args[1:]
	if len(args) != 2 && len(args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: go-relay <port> <tool url> [<cert.pem> <key.pem>]")
		os.Exit(2)
	}
	target, err := url.Parse(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "tool url:", err)
		os.Exit(2)
	}
	authorization := os.Getenv("BENCH_TOOL_AUTHORIZATION")
	// The default keeps 2 idle connections per host: at 50 client connections that would open and
	// close a tool connection for most requests. As many as the Node relays' pool (256) instead.
	transport := &http.Transport{
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	proxy := &httputil.ReverseProxy{
		// Rewrite (unlike Director) adds no X-Forwarded-* headers unless asked: the request the tool
		// sees is the client's, with the credential in place of any the client sent.
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Header.Set("Authorization", authorization)
		},
		Transport: transport,
	}
	server := &http.Server{
		Addr:    "127.0.0.1:" + args[0],
		Handler: proxy,
		// A non-nil empty map turns HTTP/2 off.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	fmt.Fprintf(os.Stderr, "go-relay: %s, GOMAXPROCS=%d, listening on %s\n", runtime.Version(), runtime.GOMAXPROCS(0), server.Addr)
	if len(args) == 4 {
		err = server.ListenAndServeTLS(args[2], args[3])
	} else {
		err = server.ListenAndServe()
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// referrers-registry serves go-containerregistry's registry implementation (pkg/registry, the
// one behind `crane registry serve`) with its OCI 1.1 referrers API switched on, which crane
// does not offer as a flag. ironsign's tests use it as a registry that answers
// GET /v2/<repo>/referrers/<digest>; Debian's docker-registry (distribution 2.8) covers the
// referrers tag schema fallback.
//
// Usage: referrers-registry -addr 127.0.0.1:PORT -state DIR
// Blobs are stored under DIR/blobs; manifests live in memory for the life of the process.
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on (loopback only)")
	state := flag.String("state", "", "state directory (blobs are stored in STATE/blobs)")
	flag.Parse()
	if *state == "" {
		log.Fatal("-state is required")
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		log.Fatal(err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		log.Fatalf("refusing to listen on %q: loopback addresses only", *addr)
	}
	blobs := filepath.Join(*state, "blobs")
	if err := os.MkdirAll(blobs, 0o700); err != nil {
		log.Fatal(err)
	}
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("serving on %s", listener.Addr())
	server := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: registry.New(
			registry.WithBlobHandler(registry.NewDiskBlobHandler(blobs)),
			registry.WithReferrersSupport(true),
		),
	}
	log.Fatal(server.Serve(listener))
}

//go:build tools

// Pins olareg's registry command for scripts/install-deps (go_module_build). `go install
// ...@v0.2.2` fails because it loads the module's deprecation notice from its version list, which
// the module proxy refuses; building from this module needs only the exact version.
package tools

import _ "github.com/olareg/olareg/cmd/olareg"

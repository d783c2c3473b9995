// Command check-compose loads a compose file the way `docker compose config` does (compose-go:
// schema validation, interpolation, merge keys, depends_on and volume references) without a
// Docker daemon, and fails with the loader's message if the file is invalid.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	files := os.Args[1:]
	if len(files) == 0 {
		files = []string{"docker-compose.yml"}
	}
	options, err := cli.NewProjectOptions(files, cli.WithOsEnv, cli.WithDotEnv, cli.WithName("farmlokal"))
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	for name, service := range project.Services {
		for dependency := range service.DependsOn {
			if _, ok := project.Services[dependency]; !ok {
				if _, disabled := project.DisabledServices[dependency]; !disabled {
					fail(fmt.Errorf("service %s depends on unknown service %s", name, dependency))
				}
			}
		}
	}
	fmt.Printf("%s: valid (%d services)\n", files[0], len(project.Services))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "invalid compose file:", err)
	os.Exit(1)
}

package main

import "github.com/spf13/cobra"

func (c *cli) demoCmd() *cobra.Command {
	return &cobra.Command{Use: "demo", Short: "Play the whole procedure on an embedded mail system"}
}

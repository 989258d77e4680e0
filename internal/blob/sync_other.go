//go:build !linux

package blob

// syncPaths makes the writes to paths (files and directories) durable, one
// fsync each: there is no portable sync of a whole file system.
func syncPaths(_ string, paths []string) error {
	for _, p := range paths {
		if err := syncDir(p); err != nil {
			return err
		}
	}
	return nil
}

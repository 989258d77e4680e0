package blob

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncPaths makes the writes to paths durable. On Linux it syncs the whole
// file system of dir (syncfs(2)) once, which is far cheaper than an fsync
// of each path when there are many; paths only says whether there is
// anything to sync.
func syncPaths(dir string, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = unix.Syncfs(int(d.Fd()))
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

package xmpptest

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel stop the server if the test process dies
// without its cleanups (a panic, a -timeout).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

// vcsim for the danacloud.vm_autoscale lab.
//
// The Debian package golang-github-vmware-govmomi-dev ships the simulator
// library but no vcsim command; this is the small main that turns it into a
// vCenter (VPX) endpoint speaking HTTPS with a certificate of the lab CA.
//
// Configuration comes from the environment, never from argv (argv is visible
// to every user in ps):
//
//	VCSIM_LISTEN         host:port to listen on (required)
//	VCSIM_CERT, VCSIM_KEY PEM certificate chain and key (required)
//	VCSIM_USERNAME       the only accepted user name (required)
//	VCSIM_PASSWORD_FILE  file holding the only accepted password (required)
//	VCSIM_CLUSTER_HOSTS  hosts in the cluster (default 3)
//	VCSIM_METHOD_DELAY   how long vSphere methods take, "Method:ms,Method:ms"
//	                     (e.g. "CloneVM_Task:60000,PowerOnVM_Task:2000"; default none):
//	                     the simulator's DelayConfig.MethodDelay, which holds each
//	                     call that long before it runs - the lab's timing profile
//	                     (lab/plan.yml, docs/lab.md)
//
// The model is deliberately bare (one datacenter, one cluster, one datastore,
// one distributed switch, no VMs): the lab's seeding step gives it the shape
// of the operator's environment through the vSphere API itself.
package main

import (
	"crypto/tls"
	"fmt"
	"io/ioutil"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/vmware/govmomi/simulator"
)

func mustEnv(name string) string {
	v := os.Getenv(name)
	if v == "" {
		fmt.Fprintf(os.Stderr, "vcsim: environment variable %s is required\n", name)
		os.Exit(2)
	}
	return v
}

// methodDelays parses "Method:ms,Method:ms" (empty: none).
func methodDelays(spec string) (map[string]int, error) {
	delays := map[string]int{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		parts := strings.SplitN(item, ":", 2)
		if len(parts) != 2 || parts[0] == "" {
			return nil, fmt.Errorf("%q is not Method:milliseconds", item)
		}
		ms, err := strconv.Atoi(parts[1])
		if err != nil || ms < 0 {
			return nil, fmt.Errorf("%q: the delay must be a whole number of milliseconds, at least 0", item)
		}
		delays[parts[0]] = ms
	}
	return delays, nil
}

func main() {
	listen := mustEnv("VCSIM_LISTEN")
	cert, err := tls.LoadX509KeyPair(mustEnv("VCSIM_CERT"), mustEnv("VCSIM_KEY"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "vcsim: cannot load TLS key pair: %v\n", err)
		os.Exit(2)
	}
	password, err := ioutil.ReadFile(mustEnv("VCSIM_PASSWORD_FILE"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "vcsim: cannot read password file: %v\n", err)
		os.Exit(2)
	}
	hosts := 3
	if v := os.Getenv("VCSIM_CLUSTER_HOSTS"); v != "" {
		if hosts, err = strconv.Atoi(v); err != nil || hosts < 1 {
			fmt.Fprintf(os.Stderr, "vcsim: VCSIM_CLUSTER_HOSTS must be a positive integer\n")
			os.Exit(2)
		}
	}

	delays, err := methodDelays(os.Getenv("VCSIM_METHOD_DELAY"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "vcsim: VCSIM_METHOD_DELAY: %v\n", err)
		os.Exit(2)
	}

	model := simulator.VPX()
	model.Datacenter = 1
	model.Cluster = 1
	model.ClusterHost = hosts
	model.Host = 0
	model.Datastore = 1
	model.Portgroup = 1
	model.Machine = 0
	model.DelayConfig.MethodDelay = delays
	if err := model.Create(); err != nil {
		fmt.Fprintf(os.Stderr, "vcsim: cannot create model: %v\n", err)
		os.Exit(1)
	}
	defer model.Remove()

	model.Service.Listen = &url.URL{
		Host: listen,
		User: url.UserPassword(mustEnv("VCSIM_USERNAME"), strings.TrimSpace(string(password))),
	}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	server := model.Service.NewServer()
	defer server.Close()

	// The lab waits for this line (and then for /about over TLS) before
	// seeding; it carries no secret.
	fmt.Printf("vcsim: listening on https://%s/sdk\n", listen)
	if len(delays) > 0 {
		fmt.Printf("vcsim: method delays (ms): %v\n", delays)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	fmt.Println("vcsim: stopping")
}

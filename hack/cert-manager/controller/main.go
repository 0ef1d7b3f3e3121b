// Command controller runs cert-manager's controllers for the Issuer kinds this project's
// manifests use (SelfSigned and CA), built from cert-manager's own packages. cert-manager's
// upstream main (cmd/controller) is a separate Go module that the Go module proxy does not serve,
// so this is the least wiring that runs the same controllers: a leader election, the context
// factory, and every registered controller. ACME, Vault, Venafi, the ingress/gateway shims and
// the CertificateSigningRequest controllers are left out: nothing here needs them and they pull in
// cloud SDKs. Built by hack/build-cert-manager.sh, run by hack/certmanager.ts.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/cert-manager/cert-manager/pkg/controller"
	// Each blank import registers its controller (controller.Register in an init function).
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	// The Issuer kinds the issuers controller can set up (issuer.RegisterIssuer).
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
)

func main() {
	// Its own flag set: controller-runtime defines --kubeconfig on the global one.
	flags := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	kubeconfig := flags.String("kubeconfig", "", "kubeconfig of the cluster")
	clusterResourceNamespace := flags.String("cluster-resource-namespace", "kube-system",
		"namespace of the Secrets that ClusterIssuers refer to")
	leaderElectionNamespace := flags.String("leader-election-namespace", "kube-system",
		"namespace of the leader election Lease")
	klog.InitFlags(flags)        // -v=N: cert-manager logs at 2 what it did, at 5 why it did nothing
	_ = flags.Parse(os.Args[1:]) // ExitOnError: exits itself on a bad flag
	logf.InitLogs()
	defer logf.FlushLogs()

	ctx, stop := signal.NotifyContext(logf.NewContext(context.Background(), logf.Log), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *kubeconfig, *clusterResourceNamespace, *leaderElectionNamespace); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(rootCtx context.Context, kubeconfig, clusterResourceNamespace, leaseNamespace string) error {
	log := logf.FromContext(rootCtx)
	// cert-manager's own defaults (internal/apis/config/controller/v1alpha1), which a program
	// outside its module cannot import.
	factory, err := controller.NewContextFactory(rootCtx, controller.ContextOptions{
		Kubeconfig:         kubeconfig,
		KubernetesAPIQPS:   20,
		KubernetesAPIBurst: 50,
		IssuerOptions:      controller.IssuerOptions{ClusterResourceNamespace: clusterResourceNamespace},
		CertificateOptions: controller.CertificateOptions{
			CertificateRequestMinimumBackoffDuration: time.Hour,
			CertificateRequestMaximumBackoffDuration: 32 * time.Hour,
		},
	})
	if err != nil {
		return err
	}
	base, err := factory.Build()
	if err != nil {
		return err
	}
	if err := leadElection(rootCtx, factory, leaseNamespace); err != nil {
		return err
	}

	g, ctx := errgroup.WithContext(rootCtx)
	for name, construct := range controller.Known() {
		c, err := construct(factory)
		if err != nil {
			return fmt.Errorf("controller %s: %w", name, err)
		}
		log.Info("starting controller", "controller", name)
		g.Go(func() error { return c.Run(5, ctx) })
	}
	base.SharedInformerFactory.Start(ctx.Done())
	base.KubeSharedInformerFactory.Start(ctx.Done())
	base.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	return g.Wait()
}

// leadElection blocks until this process holds the Lease that cert-manager's controller uses, so
// two controllers never issue at once; losing it later ends the process.
func leadElection(ctx context.Context, factory *controller.ContextFactory, namespace string) error {
	c, err := factory.Build("leader-election")
	if err != nil {
		return err
	}
	id, err := os.Hostname()
	if err != nil {
		return err
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, namespace, "cert-manager-controller",
		c.Client.CoreV1(), c.Client.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: id + "-external-cert-manager-controller", EventRecorder: c.Recorder})
	if err != nil {
		return err
	}
	elected := make(chan struct{})
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   60 * time.Second,
		RenewDeadline:   40 * time.Second,
		RetryPeriod:     15 * time.Second,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { close(elected) },
			OnStoppedLeading: func() {
				if ctx.Err() == nil {
					fmt.Fprintln(os.Stderr, "leader election lost")
					os.Exit(1)
				}
			},
		},
	})
	if err != nil {
		return err
	}
	go elector.Run(ctx)
	select {
	case <-elected:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// liveedit for Unreal: receives the engine's WebSocket pose stream (docs/protocol.md, JSON frames,
// protocol version 1) and turns it into bone rotations for your skeleton.
//
// Two ways to use it:
//  * Poseable mesh: call ApplyToPoseableMesh(Mesh) every tick (no Animation Blueprint needed).
//  * Animation Blueprint: call CaptureRestPose(Mesh) once, then for each mapped bone feed
//    GetBoneComponentRotation(Bone) into a "Transform (Modify) Bone" node (Rotation Mode: Replace
//    Existing, Rotation Space: Component Space); GetPelvisComponentLocation() for the pelvis.
//
// Frames: SMPL is right-handed, y up, metres, the dancer facing +z. Unreal is left-handed, z up,
// centimetres; the actor's forward (+X) is the dancer's facing: (X, Y, Z) = 100 * (z, -x, y); a
// quaternion's vector part maps through the same change of axes with the sign flipped (the change
// is a reflection): (qX, qY, qZ, qW) = (-qz, qx, -qy, qw).
#pragma once

#include "CoreMinimal.h"
#include "Components/ActorComponent.h"
#include "LiveEditComponent.generated.h"

class IWebSocket;
class USkinnedMeshComponent;
class UPoseableMeshComponent;

DECLARE_DYNAMIC_MULTICAST_DELEGATE_ThreeParams(FLiveEditReplySignature, bool, bOk, const FString&, Request, const FString&, Message);

UCLASS(ClassGroup = (LiveEdit), meta = (BlueprintSpawnableComponent))
class LIVEEDIT_API ULiveEditComponent : public UActorComponent
{
	GENERATED_BODY()

public:
	ULiveEditComponent();

	/** The engine's WebSocket endpoint. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LiveEdit")
	FString Url = TEXT("ws://127.0.0.1:8765/ws");

	/** Reconnect attempts start 0.5 s apart and double up to this many seconds. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LiveEdit")
	float MaxReconnectDelay = 8.f;

	/** SMPL joint name -> your skeleton's bone name. Defaults suit the UE4 Mannequin and UE5 Manny. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LiveEdit")
	TMap<FName, FName> BoneMap;

	/** Extra rotation per SMPL joint (actor space) for skeletons whose reference pose is not a
	 *  T-pose, e.g. an A-pose: rotate the upper arms up to horizontal here. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LiveEdit")
	TMap<FName, FRotator> RestCorrection;

	/** Move the pelvis with the dancer's root (scaled to the skeleton's pelvis height). */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LiveEdit")
	bool bApplyRootMotion = true;

	UPROPERTY(BlueprintReadOnly, Category = "LiveEdit|State")
	bool bConnected = false;

	UPROPERTY(BlueprintReadOnly, Category = "LiveEdit|State")
	int32 FramesReceived = 0;

	UPROPERTY(BlueprintReadOnly, Category = "LiveEdit|State")
	int32 Frame = 0;

	UPROPERTY(BlueprintReadOnly, Category = "LiveEdit|State")
	float Bpm = 0.f;

	/** Running beat count; its fraction is the phase (0 on a beat). */
	UPROPERTY(BlueprintReadOnly, Category = "LiveEdit|State")
	float Beat = 0.f;

	UPROPERTY(BlueprintReadOnly, Category = "LiveEdit|State")
	float Phase = 0.f;

	UPROPERTY(BlueprintReadOnly, Category = "LiveEdit|State")
	TArray<FString> ActiveEdits;

	/** Pelvis position in actor space, centimetres. */
	UPROPERTY(BlueprintReadOnly, Category = "LiveEdit|State")
	FVector RootLocation = FVector::ZeroVector;

	/** Fired for every reply to SendEdit/Undo/ResetEdits/SetStrength. */
	UPROPERTY(BlueprintAssignable, Category = "LiveEdit")
	FLiveEditReplySignature OnReply;

	/** Global rotation of an SMPL joint (e.g. "left_elbow") in actor space: the change from the T-pose. */
	UFUNCTION(BlueprintPure, Category = "LiveEdit")
	FRotator GetJointActorRotation(FName SmplJoint) const;

	/** Store the mesh's reference pose (component space); needed before GetBoneComponentRotation. */
	UFUNCTION(BlueprintCallable, Category = "LiveEdit")
	void CaptureRestPose(USkinnedMeshComponent* Mesh);

	/** Component-space rotation for one of your bones (a BoneMap value), for Transform (Modify) Bone. */
	UFUNCTION(BlueprintPure, Category = "LiveEdit")
	FRotator GetBoneComponentRotation(FName BoneName) const;

	/** Component-space pelvis location for the mapped pelvis bone. */
	UFUNCTION(BlueprintPure, Category = "LiveEdit")
	FVector GetPelvisComponentLocation() const;

	/** Pose a Poseable Mesh directly (captures its rest pose on the first call). */
	UFUNCTION(BlueprintCallable, Category = "LiveEdit")
	void ApplyToPoseableMesh(UPoseableMeshComponent* Mesh);

	/** Push an edit; DurationBeats <= 0 means until undone. */
	UFUNCTION(BlueprintCallable, Category = "LiveEdit")
	void SendEdit(const FString& Text, float DurationBeats = 0.f);

	UFUNCTION(BlueprintCallable, Category = "LiveEdit")
	void Undo();

	UFUNCTION(BlueprintCallable, Category = "LiveEdit")
	void ResetEdits();

	UFUNCTION(BlueprintCallable, Category = "LiveEdit")
	void SetStrength(float Value);

	virtual void BeginPlay() override;
	virtual void EndPlay(const EEndPlayReason::Type Reason) override;
	virtual void TickComponent(float DeltaTime, ELevelTick TickType, FActorComponentTickFunction* ThisTickFunction) override;

private:
	static constexpr int32 NumJoints = 24;

	void Connect();
	void HandleMessage(const FString& Text);
	void SendJson(const FString& Text);
	int32 JointIndex(FName SmplJoint) const;

	TSharedPtr<IWebSocket> Socket;
	float ReconnectDelay = 0.5f;
	double NextConnectTime = 0.0;

	FQuat Global[NumJoints];                 // per SMPL joint, actor space (Unreal axes)
	TMap<FName, FQuat> RestComponent;        // bone -> reference rotation, component space
	FQuat MeshInActor = FQuat::Identity;    // the mesh component's rotation within the actor
	FVector RestPelvisComponent = FVector::ZeroVector;
	float RootScale = 1.f;
	bool bHaveRest = false;
};
